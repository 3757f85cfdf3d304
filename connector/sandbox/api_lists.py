"""Audiences (lists) and their merge fields, and batch subscribe (``POST /lists/{list_id}``)."""

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from connector.collector import collector_paused
from connector.core import transitions
from connector.core.remote import RemoteMember, subscriber_hash
from connector.sandbox import render
from connector.sandbox.assumptions import MAX_BATCH_SUBSCRIBE_MEMBERS
from connector.sandbox.context import audience_of, member_latency, members_answer, runtime_of
from connector.sandbox.member_input import MergeFieldCheck, status_field, tag_names, with_details
from connector.sandbox.problems import ApiProblemError, invalid, not_found
from connector.sandbox.runtime import SandboxRuntime
from connector.sandbox.shaping import answer, flag, json_body, links, no_content, page
from connector.sandbox.state import Audience, MergeFieldRecord, short_id

router = APIRouter(prefix="/3.0/lists")
REQUIRED_LIST_FIELDS = ("name", "contact", "permission_reminder", "campaign_defaults", "email_type_option")
DEFAULT_MERGE_FIELDS = (
    ("FNAME", "First Name", "text"),
    ("LNAME", "Last Name", "text"),
    ("ADDRESS", "Address", "address"),
    ("PHONE", "Phone Number", "phone"),
    ("BIRTHDAY", "Birthday", "birthday"),
)
MERGE_TYPES = frozenset(
    {"text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown", "birthday", "zip"}
)


@router.post("")
async def create_list(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await json_body(request)
    for name in REQUIRED_LIST_FIELDS:
        if body.get(name) in (None, ""):
            raise invalid(name, "This value should not be blank.")
    with runtime.state.lock:
        number = runtime.state.next_number()
        audience = Audience(short_id("list", number), number, str(body["name"]), dict(body), runtime.now())
        for order, (tag, label, kind) in enumerate(DEFAULT_MERGE_FIELDS, start=1):
            audience.merge_fields[order] = MergeFieldRecord(order, tag, label, kind, display_order=order + 1)
        runtime.state.data.audiences[audience.id] = audience
        return answer(request, render.audience_document(audience))


@router.get("")
async def list_lists(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.state.lock:
        audiences = list(runtime.state.data.audiences.values())
        documents = [render.audience_document(a) for a in page(request, audiences)]
    constraints = {"may_create": True, "max_instances": 100, "current_total_instances": len(audiences)}
    body = {"lists": documents, "total_items": len(audiences), "constraints": constraints, "_links": links()}
    return answer(request, body)


@router.get("/{list_id}")
async def get_list(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        return answer(request, render.audience_document(audience))


@router.post("/{list_id}")
async def batch_subscribe(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    items = body.get("members")
    if not isinstance(items, list):
        raise invalid("members", "members must be an array")
    if len(items) > MAX_BATCH_SUBSCRIBE_MEMBERS:
        raise invalid(
            "members", f"Up to {MAX_BATCH_SUBSCRIBE_MEMBERS} members may be added or updated per call"
        )
    await member_latency(runtime, len(items))
    with runtime.state.lock, collector_paused():  # 500 new members: acyclic values, nothing to collect
        call = _BatchCall(runtime, audience, request, body)
        for item in items:
            call.subscribe_one(item)
        return call.answer(request)


class _BatchCall:
    """One ``POST /lists/{id}``: its options read once, its members applied one by one, its answer.

    The whole batch is applied at one moment (``now``), as one call: Mailchimp's timestamps are to the
    second, and a 500-member call takes well under one."""

    def __init__(self, runtime: SandboxRuntime, audience: Audience, request: Request, body: dict[str, Any]):
        self.runtime = runtime
        self.audience = audience
        self.now = runtime.now()
        self.update_existing = bool(body.get("update_existing", False))
        self.sync_tags = bool(body.get("sync_tags", False))
        self.skip_duplicate_check = flag(request, "skip_duplicate_check")
        self.skip_merge_validation = flag(request, "skip_merge_validation")
        self.merge_fields = MergeFieldCheck(audience)
        self.seen: set[str] = set()
        self.created: list[RemoteMember] = []
        self.updated: list[RemoteMember] = []
        self.errors: list[dict[str, str]] = []

    def fail(self, email: str, problem: transitions.Rejection | ApiProblemError) -> None:
        code = problem.error_code if isinstance(problem, transitions.Rejection) else "ERROR_GENERIC"
        error = {"email_address": email, "error": problem.detail, "error_code": code}
        if isinstance(problem, ApiProblemError) and problem.errors:
            error |= {"field": problem.errors[0]["field"], "field_message": problem.errors[0]["message"]}
        elif isinstance(problem, transitions.Rejection) and problem.field:
            error |= {"field": problem.field, "field_message": problem.detail}
        self.errors.append(error)

    def subscribe_one(self, item: Any) -> None:
        email = item.get("email_address") if isinstance(item, dict) else None
        if not isinstance(email, str) or not email.strip():
            self.fail(
                str(email or ""), transitions.invalid_field("email_address", "An e-mail address is required.")
            )
            return
        key = subscriber_hash(email)
        if key in self.seen:
            if not self.skip_duplicate_check:
                self.fail(
                    email,
                    transitions.Rejection("Invalid Resource", f"{email} is a duplicate in this request."),
                )
            return
        self.seen.add(key)
        try:
            self._apply(item, email, key)
        except ApiProblemError as problem:
            self.fail(email, problem)

    def _apply(self, item: dict[str, Any], email: str, key: str) -> None:
        audience = self.audience
        before = audience.members.get(key)
        creating = before is None or not before.is_present
        merges = self.merge_fields.values(item, creating=creating, skip_validation=self.skip_merge_validation)
        outcome = transitions.batch_subscribe_item(
            before,
            email,
            status=status_field(item, "status"),
            merge_fields=merges,
            tags=tag_names(item),
            update_existing=self.update_existing,
            sync_tags=self.sync_tags,
            now=self.now,
            rules=self.runtime.rules,
        )
        if isinstance(outcome, transitions.Rejection):
            self.fail(email, outcome)
            return
        saved = self.runtime.commit(audience, before, with_details(outcome, item), transitions.Source.API)
        (self.created if before is None else self.updated).append(saved)

    def answer(self, request: Request) -> Response:
        members = {"new_members": self.created, "updated_members": self.updated}
        totals = {
            "errors": self.errors,
            "total_created": len(self.created),
            "total_updated": len(self.updated),
            "error_count": len(self.errors),
            "_links": links(),
        }
        return members_answer(request, self.runtime, self.audience, members, totals)


@router.get("/{list_id}/merge-fields")
async def list_merge_fields(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        fields = sorted(audience.merge_fields.values(), key=lambda f: f.display_order)
        documents = [render.merge_field(audience, f) for f in page(request, fields)]
    return answer(
        request,
        {"merge_fields": documents, "list_id": list_id, "total_items": len(fields), "_links": links()},
    )


@router.post("/{list_id}/merge-fields")
async def create_merge_field(list_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    body = await json_body(request)
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise invalid("name", "This value should not be blank.")
    if body.get("type") not in MERGE_TYPES:
        raise invalid("type", f"type must be one of: {', '.join(sorted(MERGE_TYPES))}")
    with runtime.state.lock:
        field = _new_merge_field(audience, body)
        audience.merge_fields[field.merge_id] = field
        return answer(request, render.merge_field(audience, field))


def _new_merge_field(audience: Audience, body: dict[str, Any]) -> MergeFieldRecord:
    merge_id = max(audience.merge_fields, default=0) + 1
    tag = str(body.get("tag") or f"MMERGE{merge_id}").upper()[:10]
    if audience.merge_field_by_tag(tag) is not None:
        raise invalid("tag", f"A merge field with the tag {tag} already exists.")
    return MergeFieldRecord(
        merge_id=merge_id,
        tag=tag,
        name=body["name"].strip(),
        type=body["type"],
        required=bool(body.get("required", False)),
        default_value=str(body.get("default_value", "")),
        public=bool(body.get("public", True)),
        display_order=int(body.get("display_order", merge_id + 1)),
        help_text=str(body.get("help_text", "")),
        options=dict(body.get("options") or {}),
    )


def _merge_field(audience: Audience, merge_id: str) -> MergeFieldRecord:
    found = audience.merge_fields.get(int(merge_id)) if merge_id.isdigit() else None
    if found is None:
        raise not_found()
    return found


@router.get("/{list_id}/merge-fields/{merge_id}")
async def get_merge_field(list_id: str, merge_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        return answer(request, render.merge_field(audience, _merge_field(audience, merge_id)))


@router.delete("/{list_id}/merge-fields/{merge_id}")
async def delete_merge_field(list_id: str, merge_id: str, request: Request) -> Response:
    runtime, audience = audience_of(request, list_id)
    with runtime.state.lock:
        del audience.merge_fields[_merge_field(audience, merge_id).merge_id]
    return no_content()
