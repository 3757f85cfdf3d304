"""The member document the sandbox sends: the encoded fast path is the document, byte for byte."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core import transitions
from connector.core.remote import MemberStatus, RemoteMember, subscriber_hash
from connector.sandbox.render import MemberDocuments, member
from connector.sandbox.server import SandboxHandle
from connector.sandbox.state import (
    Audience,
    MemberExtras,
    MergeFieldRecord,
    SegmentRecord,
    member_ids,
    short_id,
)

NOW = datetime(2026, 11, 23, 12, 0, 7, tzinfo=UTC)
TEXT = st.text(max_size=12)  # any code point: quotes, backslashes, control characters, non-ASCII
MOMENTS = st.one_of(st.none(), st.integers(-(10**6), 10**6).map(lambda s: NOW + timedelta(seconds=s)))


def _audience(tags: list[str]) -> Audience:
    audience = Audience("a1b2c3d4e5", 7, "Konsert", {}, NOW)
    for order, tag in enumerate(("FNAME", "LNAME", "ADDRESS", "PHONE"), start=1):
        audience.merge_fields[order] = MergeFieldRecord(order, tag, tag.title(), "text")
    for number, name in enumerate(tags, start=100):  # a static segment per tag, one saved segment
        audience.segments[number] = SegmentRecord(number, name, "static", NOW, NOW)
    audience.segments[99] = SegmentRecord(99, "saved one", "saved", NOW, NOW)
    return audience


@st.composite
def members(draw: st.DrawFn) -> RemoteMember:
    email = draw(TEXT) + "@konsert.no"
    merges = draw(st.dictionaries(st.sampled_from(["FNAME", "LNAME", "PHONE", "OTHER"]), TEXT, max_size=4))
    return RemoteMember(
        subscriber_hash=subscriber_hash(email),
        email=email,
        status=draw(st.sampled_from(MemberStatus)),
        merge_fields=tuple(sorted(merges.items())),
        tags=frozenset(draw(st.lists(TEXT.filter(bool), max_size=60))),
        last_changed=draw(MOMENTS.filter(bool)),
        unsubscribe_reason=draw(st.one_of(st.none(), TEXT)),
        email_type=draw(st.sampled_from(["html", "text"])),
        ip_signup=draw(TEXT),
        timestamp_signup=draw(MOMENTS),
        ip_opt=draw(TEXT),
        timestamp_opt=draw(MOMENTS),
        interests=tuple(sorted(draw(st.dictionaries(TEXT, st.booleans(), max_size=3)).items())),
    )


@settings(max_examples=300, deadline=None)
@given(members(), st.integers(0, 10**9), st.booleans())
def test_the_encoded_member_is_the_document_encoded(value: RemoteMember, web_id: int, known: bool) -> None:
    audience = _audience(sorted(value.tags) if known else [])
    extras = MemberExtras("u1", web_id, "c" * 32)
    documents = MemberDocuments(audience)
    assert documents.member_json(value, extras) == json.dumps(member(audience, value, extras))
    again = replace(value, email="other@konsert.no")  # a second member through the same renderer
    assert documents.member_json(again, extras) == json.dumps(documents.member(again, extras))


def test_a_new_member_is_a_blank_one_given_its_status() -> None:
    """``new_member`` builds in one step what the status transition makes of a blank member."""
    for status in MemberStatus:
        blank = RemoteMember(
            subscriber_hash=subscriber_hash("ann@konsert.no"),
            email="ann@konsert.no",
            status=MemberStatus.TRANSACTIONAL,
            merge_fields=(("FNAME", "Ann"),),
            tags=frozenset({"x"}),
            last_changed=NOW,
            timestamp_signup=NOW,
        )
        expected = transitions._with_status(blank, status, transitions.Source.API, NOW, transitions.Rules())
        made = transitions.new_member(
            " ann@konsert.no ", status, {"FNAME": "Ann"}, NOW, tags=frozenset({"x"})
        )
        assert made == expected


def _without_links(answer: dict[str, Any], lists: tuple[str, ...], *also: str) -> dict[str, Any]:
    kept = {key: value for key, value in answer.items() if key != "_links"}
    for key in lists:
        kept[key] = [{k: v for k, v in m.items() if k not in ("_links", *also)} for m in kept[key]]
    return kept


def test_a_batch_answer_is_the_same_encoded_or_shaped(sandbox: SandboxHandle, list_id: str) -> None:
    """``POST /lists/{id}`` answers member by member unless ``fields``/``exclude_fields`` shape it: the
    shaped answer holds what the unshaped one does; a created member reads back as ``GET`` shows it."""
    members = [
        {"email_address": "ann@konsert.no", "status": "subscribed", "tags": ["cs:a", "cs:b"]},
        {"email_address": "bob@konsert.no", "status": "unsubscribed", "merge_fields": {"FNAME": "Bø"}},
        {"email_address": "x@example.com", "status": "subscribed"},
    ]
    url = f"{sandbox.base_url}/lists/{list_id}"
    auth = ("test", sandbox.api_key)
    created = requests.post(url, json={"members": members}, auth=auth, timeout=30).json()
    assert (created["total_created"], created["error_count"]) == (2, 1)
    for document in created["new_members"]:
        read = requests.get(f"{url}/members/{document['id']}", auth=auth, timeout=30).json()
        assert read == document
    again = {"members": members, "update_existing": True}
    sent = requests.post(url, json=again, auth=auth, timeout=30)
    assert sent.text == json.dumps(sent.json())  # what ``json.dumps`` of the document writes
    plain = sent.json()
    dropped = {"exclude_fields": "_links,new_members._links,updated_members._links"}
    shaped = requests.post(url, json=again, auth=auth, params=dropped, timeout=30)
    assert plain["total_updated"] == 2
    assert plain["errors"] == created["errors"]
    assert shaped.json() == _without_links(plain, ("new_members", "updated_members"))


def test_a_tag_edit_answer_is_the_same_encoded_or_shaped(sandbox: SandboxHandle, list_id: str) -> None:
    url = f"{sandbox.base_url}/lists/{list_id}"
    auth = ("test", sandbox.api_key)
    members = [{"email_address": f"p{i}@konsert.no", "status": "subscribed"} for i in range(3)]
    requests.post(url, json={"members": members}, auth=auth, timeout=30).raise_for_status()
    tag = requests.post(f"{url}/segments", json={"name": "cs:x", "static_segment": []}, auth=auth, timeout=30)
    edit = f"{url}/segments/{tag.json()['id']}"
    body = {"members_to_add": ["p0@konsert.no", "p1@konsert.no", "nobody@konsert.no"]}
    added = requests.post(edit, json=body, auth=auth, timeout=30)
    assert added.text == json.dumps(added.json())
    assert [m["email_address"] for m in added.json()["members_added"]] == ["p0@konsert.no", "p1@konsert.no"]
    assert added.json()["members_added"][0]["tags"] == [{"id": tag.json()["id"], "name": "cs:x"}]
    body = {"members_to_remove": ["p1@konsert.no"], "members_to_add": ["p0@konsert.no", "p2@konsert.no"]}
    dropped = {"exclude_fields": "_links,members_added._links,members_removed._links"}
    shaped = requests.post(edit, json=body, auth=auth, params=dropped, timeout=30).json()
    requests.post(edit, json={"members_to_add": ["p1@konsert.no"]}, auth=auth, timeout=30)
    requests.post(edit, json={"members_to_remove": ["p2@konsert.no"]}, auth=auth, timeout=30)
    plain = requests.post(edit, json=body, auth=auth, timeout=30).json()  # the same edit again
    assert plain["total_removed"] == 1
    assert _without_links(plain, ("members_added", "members_removed"), "last_changed") == _without_links(
        shaped, ("members_added", "members_removed"), "last_changed"
    )


def test_member_ids_are_the_short_ids_they_always_were() -> None:
    key = subscriber_hash("ann@konsert.no")
    assert member_ids("a1b2c3d4e5", key) == (
        short_id("unique", "a1b2c3d4e5", key),
        short_id("contact", "a1b2c3d4e5", key, length=32),
    )
