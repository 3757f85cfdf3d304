"""The import use case: read, plan, and (with ``apply``) write the plan in one transaction.

A dry-run plans in a read-only session that is rolled back. ``apply`` plans and writes in the same unit
of work, so what is written is exactly what that plan (and the dry-run's, on the same store) shows; any
error — a file that stops decoding half-way, a database failure — rolls everything back.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlmodel import Session

from connector.imports.applier import ApplyContext, apply_plan
from connector.imports.decisions import Rules
from connector.imports.parsing.rows import FieldName, RowKind
from connector.imports.plan import ImportPlan
from connector.imports.planner import ImportSource, PlanRequest, Progress, build_plan, file_sha256
from connector.imports.reader import ReadOptions, open_import
from connector.services.context import AppContext
from connector.settings import Settings
from connector.store.engine import unit_of_work

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ImportRequest:
    paths: Sequence[Path]
    source: str | None = None
    kind: RowKind | None = None
    column_map: dict[str, FieldName | None] = field(default_factory=dict)
    encoding: str | None = None
    audience: str | None = None
    apply: bool = False
    operator: str = "unknown"


def open_sources(request: ImportRequest, region: str) -> list[ImportSource]:
    """Each distinct file argument, detected (file-level problems raise ``InputError`` here)."""
    options = ReadOptions(
        source=request.source, region=region, column_map=request.column_map, encoding=request.encoding
    )
    sources: dict[str, ImportSource] = {}
    for path in request.paths:
        files = open_import(path, options)
        sha = file_sha256(path)
        sources.setdefault(sha, ImportSource(path, files, sha))
    return list(sources.values())


def import_rules(settings: Settings, request: ImportRequest, ctx: AppContext) -> Rules:
    audience = settings.audience(request.audience) if request.audience else settings.audiences[0]
    policy = settings.policy
    return Rules(
        now=ctx.now(),
        source=request.source,
        purposes=audience.purposes or tuple(p.name for p in policy.purposes),
        purpose_channels={p.name: p.channels for p in policy.purposes},
        trust_mailchimp_signup_forms=policy.trust_mailchimp_signup_forms,
        unsubscribe_means=policy.mailchimp_unsubscribe_means,
        policy=policy,
        interests=audience.interests,
        signup_purposes=audience.mailchimp_signup_purposes,
        mailchimp_notice_version=audience.mailchimp_notice_version,
        source_notice_version=settings.imports.notice_versions.get(request.source or ""),
        list_id=audience.list_id,
    )


def run_import(ctx: AppContext, request: ImportRequest, progress: Progress | None = None) -> ImportPlan:
    """Plan the import; with ``request.apply`` also write it, all or nothing."""
    sources = open_sources(request, ctx.settings.contacts.default_region)
    plan_request = PlanRequest(
        sources, import_rules(ctx.settings, request, ctx), ctx.suppression_key, request.kind
    )
    if not request.apply:
        with Session(ctx.engine) as session:
            plan = build_plan(session, plan_request, progress)
            session.rollback()
        log.info("import.planned", **_log_counts(plan))
        return plan
    with unit_of_work(ctx.engine) as session:
        plan = build_plan(session, plan_request, progress)
        if plan.changes_anything or _unrecorded_files(plan):
            apply_plan(session, plan, _apply_context(ctx, request))
    log.info("import.applied", **_log_counts(plan))
    return plan


def _unrecorded_files(plan: ImportPlan) -> bool:
    return len(plan.already_applied) < len(plan.files)


def _apply_context(ctx: AppContext, request: ImportRequest) -> ApplyContext:
    label = request.source or "unattested"
    return ApplyContext(
        now=ctx.now(),
        actor=f"import:{label}",
        source=f"import:{request.source}" if request.source else "import",
        operator=request.operator,
        jurisdiction=ctx.settings.contacts.default_jurisdiction,
    )


def _log_counts(plan: ImportPlan) -> dict[str, int]:
    return {key: value for key, value in plan.counts().items() if value}
