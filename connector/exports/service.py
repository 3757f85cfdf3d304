"""Stream every contact with its current entitlement: keyset pages, facts loaded set-based per page."""

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlmodel import Session, col

from connector.core.model import Entitlement
from connector.core.policy import decide
from connector.errors import InputError
from connector.exports.parquet import require_parquet, write_parquet
from connector.exports.table import ExportedContact, Scope, document, export_scope, header, row
from connector.exports.writer import write_csv, write_json
from connector.services.context import AppContext
from connector.store.facts import load_facts
from connector.store.tables import ContactRow

PAGE = 1_000


@dataclass(frozen=True, slots=True)
class ExportRequest:
    audience: str
    purpose: str | None = None


def scope_of(ctx: AppContext, request: ExportRequest) -> Scope:
    """The (purpose, channel) columns: the audience's purposes, or the one named with ``--purpose``."""
    audience = ctx.settings.audience(request.audience)
    purposes = audience.purposes or tuple(p.name for p in ctx.settings.policy.purposes)
    if request.purpose is not None:
        if request.purpose not in purposes:
            raise InputError(
                "--purpose", f"{request.purpose!r} is not a purpose of audience {request.audience!r}"
            )
        purposes = (request.purpose,)
    return export_scope(ctx.settings.policy, purposes)


def entitled_contacts(ctx: AppContext, session: Session) -> Iterator[tuple[ExportedContact, Entitlement]]:
    """Every contact (ordered by id) with its entitlement now: a few queries per page of ``PAGE``."""
    now = ctx.now()
    after = ""
    while True:
        query = select(ContactRow).where(col(ContactRow.id) > after).order_by(col(ContactRow.id)).limit(PAGE)
        page = list(session.execute(query).scalars())
        if not page:
            return
        facts = load_facts(session, page, ctx.suppression_key)
        for contact in page:
            yield _exported(contact), decide(facts[contact.id], ctx.settings.policy, now)
        after = page[-1].id
        session.expunge_all()


def _exported(row: ContactRow) -> ExportedContact:
    return ExportedContact(
        row.id, row.email, row.first_name, row.last_name, row.phone, row.external_id, row.locale
    )


def export(
    ctx: AppContext,
    request: ExportRequest,
    output_format: str,
    bom: bool,
    output: Path | None,
    advance: Callable[[int], None] | None = None,
) -> int:
    """Write the export to ``output`` (stdout when ``None``; a file for ``parquet``); the number of
    contacts written.

    ``advance(1)`` is called per contact written, for a progress display.
    """
    scope = scope_of(ctx, request)
    if output_format == "parquet":
        if output is None:
            raise InputError("--output", "a Parquet export is written to a file: give --output FILE")
        require_parquet()
        with Session(ctx.engine) as session:
            contacts = _counted(entitled_contacts(ctx, session), advance)
            return write_parquet(output, header(scope), (row(c, e, scope) for c, e in contacts))
    with Session(ctx.engine) as session, _opened(output) as out:
        contacts = _counted(entitled_contacts(ctx, session), advance)
        if output_format == "json":
            return write_json(out, (document(c, e, scope) for c, e in contacts))
        return write_csv(out, header(scope), (row(c, e, scope) for c, e in contacts), bom=bom)


def _counted(
    items: Iterable[tuple[ExportedContact, Entitlement]], advance: Callable[[int], None] | None
) -> Iterator[tuple[ExportedContact, Entitlement]]:
    for item in items:
        if advance is not None:
            advance(1)
        yield item


@contextmanager
def _opened(output: Path | None) -> Iterator[IO[str]]:
    if output is None:
        yield sys.stdout
        return
    with output.open("w", encoding="utf-8", newline="") as stream:
        yield stream
