"""The import report: one reader of the :class:`ImportPlan`, as text lines or as JSON-ready data.

The report names rows by ``file:line`` (the operator's own file); addresses appear only in the lists of
blocked rows and merged duplicates, never in logs.
"""

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from connector.imports.plan import Blocked, Duplicate, IgnoredConsent, ImportPlan, NotCovered
from connector.imports.reader import FileReport

SHOWN = 25
"""Entries of each list printed in the text report (``--json`` has them all)."""

_T = TypeVar("_T")


def heading(plan: ImportPlan, applied: bool) -> str:
    if plan.files and len(plan.already_applied) == len(plan.files):
        return "Already applied: every file was imported before; nothing changed."
    if applied:
        return "Applied: the store now holds what this report shows."
    if not plan.changes_anything:
        return "Dry-run: nothing would change."
    return "Dry-run: nothing was written. Run again with --apply to write exactly this."


def render_text(plan: ImportPlan, applied: bool) -> list[str]:
    lines = [heading(plan, applied)]
    for done in plan.already_applied:
        when = f"{done.applied_at:%Y-%m-%d %H:%M} UTC"
        lines.append(f"  {done.file}: already applied {when} (sha256 {done.sha256[:12]}…)")
    for file in plan.files:
        lines.extend(_file_lines(file.path, file.sha256, file.reports))
    lines.extend(_count_lines(plan.counts()))
    lines.extend(_listed("Duplicates merged", plan.duplicates, _duplicate_line))
    lines.extend(_listed("Rejected rows", plan.rejected, lambda r: f"{r.where}: {r.reason}"))
    lines.extend(_listed("Blocked", plan.blocked, _blocked_line))
    lines.extend(_listed("Ignored for consent", plan.ignored_consent, _ignored_line))
    lines.extend(_coverage_lines(plan))
    return lines


def _coverage_lines(plan: ImportPlan) -> Iterator[str]:
    """Which purposes the consent claims covered, and which they could not, and why (grouped)."""
    granted: dict[str, int] = {}
    for event in plan.events:
        if event.action.value == "given":
            granted[event.purpose] = granted.get(event.purpose, 0) + 1
    if granted:
        shown = ", ".join(f"{purpose} {count:,}" for purpose, count in sorted(granted.items()))
        yield f"Consents by purpose: {shown}"
    if plan.awaiting_confirmation:
        count = len(plan.awaiting_confirmation)
        first = ", ".join(f"{a.where} ({a.why})" for a in plan.awaiting_confirmation[:3])
        more = ", …" if count > 3 else ""
        yield (
            f"Awaiting confirmation ({count:,} claims): recorded unconfirmed, no marketing until confirmed "
            f"(double opt-in): {first}{more}"
        )
    groups = not_covered_groups(plan.not_covered)
    if not groups:
        return
    yield f"Purposes not covered ({len(plan.not_covered):,} claims × purposes):"
    for (purpose, reason), entries in groups.items():
        first = ", ".join(str(e.where) for e in entries[:3]) + (", …" if len(entries) > 3 else "")
        yield f"  {purpose}: {len(entries):,} claims ({first}): {reason}"


def not_covered_groups(entries: Sequence[NotCovered]) -> dict[tuple[str, str], list[NotCovered]]:
    groups: dict[tuple[str, str], list[NotCovered]] = {}
    for entry in entries:
        groups.setdefault((entry.purpose, entry.reason), []).append(entry)
    return groups


def _file_lines(path: str, sha256: str, reports: Sequence[FileReport]) -> Iterator[str]:
    yield f"File {path} (sha256 {sha256[:12]}…)"
    for report in reports:
        delimiter = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(
            report.delimiter, report.delimiter
        )
        status = f", Mailchimp {report.mailchimp_status.value}" if report.mailchimp_status else ""
        yield (
            f"  {report.path}: {report.rows_read} rows, encoding {report.encoding} "
            f"(confidence {report.confidence:.2f}), delimiter {delimiter}, kind {report.kind.value}{status}"
        )
        for note in report.notes:
            yield f"    note: {note}"


_LABELS = {
    "rows_read": "rows read",
    "rows_rejected": "rows rejected",
    "contacts_new": "contacts new",
    "contacts_updated": "contacts updated",
    "contacts_unchanged": "contacts unchanged",
    "consents": "consents recorded",
    "confirmations": "double opt-in confirmations",
    "withdrawals": "withdrawals recorded",
    "objections": "objections recorded",
    "relationships": "relationships added or updated",
    "suppressions": "suppressions recorded",
    "duplicates_merged": "duplicate rows merged",
    "blocked": "rows blocked",
    "ignored_for_consent": "consent claims ignored (not consent)",
    "purposes_not_covered": "purposes a claim did not cover",
    "awaiting_confirmation": "grants awaiting double opt-in confirmation",
}


def _count_lines(counts: dict[str, int]) -> Iterator[str]:
    yield "Counts:"
    for key, label in _LABELS.items():
        yield f"  {label}: {counts[key]:,}"


def _listed(title: str, entries: Sequence[_T], line: Any) -> Iterator[str]:
    if not entries:
        return
    yield f"{title} ({len(entries):,}):"
    for entry in entries[:SHOWN]:
        yield f"  {line(entry)}"
    if len(entries) > SHOWN:
        yield f"  … and {len(entries) - SHOWN:,} more (--json lists all)"


def _duplicate_line(duplicate: Duplicate) -> str:
    return f"{duplicate.key}: lines {', '.join(str(where) for where in duplicate.lines)}"


def _blocked_line(blocked: Blocked) -> str:
    who = f" {blocked.email}" if blocked.email else ""
    return f"{blocked.where}{who}: {blocked.reason}"


def _ignored_line(ignored: IgnoredConsent) -> str:
    return f"{ignored.where}: {ignored.reason}"


def plan_document(plan: ImportPlan, applied: bool) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    return {
        "applied": applied,
        "summary": heading(plan, applied),
        "source": plan.source,
        "counts": plan.counts(),
        "files": [
            {
                "path": file.path,
                "sha256": file.sha256,
                "csv": [_report_document(report) for report in file.reports],
            }
            for file in plan.files
        ],
        "already_applied": [
            {"file": a.file, "sha256": a.sha256, "applied_at": a.applied_at.isoformat()}
            for a in plan.already_applied
        ],
        "duplicates": [{"key": d.key, "lines": [str(w) for w in d.lines]} for d in plan.duplicates],
        "rejected": [{"where": r.where, "reason": r.reason} for r in plan.rejected],
        "blocked": [
            {
                "where": str(b.where),
                "email": b.email,
                "reason": b.reason,
                "contact_data_written": b.contact_data_written,
            }
            for b in plan.blocked
        ],
        "ignored_for_consent": [{"where": str(i.where), "reason": i.reason} for i in plan.ignored_consent],
        "awaiting_confirmation": [
            {"where": str(a.where), "purposes": list(a.purposes), "why": a.why}
            for a in plan.awaiting_confirmation
        ],
        "not_covered": [
            {"where": str(n.where), "purpose": n.purpose, "reason": n.reason} for n in plan.not_covered
        ],
    }


def _report_document(report: FileReport) -> dict[str, Any]:
    return {
        "path": report.path,
        "encoding": report.encoding,
        "confidence": report.confidence,
        "delimiter": report.delimiter,
        "kind": report.kind.value,
        "mailchimp_status": report.mailchimp_status.value if report.mailchimp_status else None,
        "rows_read": report.rows_read,
        "row_errors": report.row_errors,
        "notes": list(report.notes),
        "columns": [
            {"header": header, "field": field.value if field else None} for header, field in report.columns
        ],
    }
