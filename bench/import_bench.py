"""Import benchmark: a large Windows-1252, semicolon-separated contacts file, dry-run and apply.

Run: ``.venv/bin/python bench/import_bench.py [--rows N] [--skip-postgres]``. The PostgreSQL DSN comes
from ``$CONSENT_SYNC_BENCH_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test_imports``; its ``public`` schema is reset).

The file (streamed to a temp dir, never held whole) has 2 % duplicates (case and whitespace variants of
earlier addresses), 0.5 % bad addresses, and Excel damage (phones as ``4791234567.0``, exact scientific
notation, some with lost digits). Prints the bare ``csv.reader`` pass, dry-run and apply times per
back end, rows/s, the dry-run/bare ratios (wall and CPU: CPU is the one a shared machine cannot inflate)
and peak RSS. Targets: ratio <= 5, apply <= 120 s, RSS <= 1 GiB.

Phases per back end: a dry-run into the empty store; the apply (and the same file applied again); then
the store is seeded as a real one is (``seed_store``: suppressions, consent events with withdrawals,
objections and relationships for shares of the contacts), and a copy of the file is dry-run against it,
so that every look-up and check of a re-import runs. Logging is configured from the settings
(``CONSENT_SYNC_LOGGING__LEVEL=WARNING`` silences the ``import.planned`` lines).
"""

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.postgres

from connector.core.identity import address_hash
from connector.imports.bulk import Encoder, insert_rows, refresh_statistics
from connector.imports.service import ImportRequest, run_import
from connector.logs import configure_logging
from connector.services.context import AppContext
from connector.settings import load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade
from tests.postgres import reset_postgres

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test_imports"
SUPPRESSION_KEY = b"bench-key"
SHARES = {
    "suppressed (unsubscribed)": 100,
    "consent given (newsletter, e-mail)": 10,
    "of those, withdrawn later": 50,
    "objected to marketing": 100,
    "purchase relationship": 20,
}
"""One contact in N of the seeded store holds each (``seed_store``)."""
FIRST = ("Ola", "Kari", "Bjørn", "Åse", "Ærlend", "Søren", "Mette", "Øystein")
LAST = ("Nordmann", "Ødegård", "Hæreid", "Åsen", "Berg", "Økland", "Lie")
_T = TypeVar("_T")


def _address(i: int) -> str:
    return f"person.{i}@kunde{i % 97}.no"


def _phone(i: int) -> str:
    number = f"4{i % 10_000_000:07d}"  # mobile-looking 8 digits, as a national number
    if i % 40 == 0:
        return f"47{number}.0"  # Excel float
    if i % 97 == 0:
        digits = f"47{number}"
        return f"{digits[0]}.{digits[1:]}E+{len(digits) - 1}"  # exact scientific notation
    if i % 331 == 0:
        return "4.79123E+10"  # lost digits: rejected with a reason
    return number if i % 3 else ""


def write_file(path: Path, rows: int) -> None:
    """Stream ``rows`` data rows: every 50th repeats an earlier address, every 200th is not an address."""
    with path.open("w", encoding="cp1252", newline="") as out:
        out.write("E-post;Fornavn;Etternavn;Mobil;Kundenummer\r\n")
        for i in range(rows):
            if i % 50 == 49:
                earlier = _address(i - 25)
                email = f"  {earlier.upper()} " if i % 100 == 49 else earlier.capitalize()
            elif i % 200 == 7:
                email = f"person.{i}.at.kunde.no"
            else:
                email = _address(i)
            out.write(f"{email};{FIRST[i % 8]};{LAST[i % 7]};{_phone(i)};{100_000 + i}\r\n")


def bare_pass(path: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a bare ``csv.reader`` pass."""
    started, cpu = time.perf_counter(), time.process_time()
    with path.open(encoding="cp1252", newline="") as stream:
        for _ in csv.reader(stream, delimiter=";"):
            pass
    return time.perf_counter() - started, time.process_time() - cpu


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(work: Callable[[], _T]) -> tuple[float, _T]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def cpu_timed(work: Callable[[], _T]) -> tuple[float, float, _T]:
    """(wall seconds, CPU seconds of this process, result): CPU time is what a shared machine cannot
    inflate by running other work."""
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - started, time.process_time() - cpu, result


def context(url: str, directory: Path) -> AppContext:
    settings = load_settings(
        None, database={"url": url}, security={"suppression_key_file": str(directory / "bench.key")}
    )
    configure_logging(settings.logging)
    upgrade(url)
    return AppContext(settings=settings, engine=make_engine(url), suppression_key=SUPPRESSION_KEY)


SEED_SOURCE = "bench seed"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
EVENT_COLUMNS = (
    "id", "contact_id", "purpose", "channel", "action", "occurred_at", "recorded_at", "method", "source",
    "active_act", "recorded_by",
)  # fmt: skip
OBJECTION_COLUMNS = ("id", "contact_id", "occurred_at", "recorded_at", "purpose", "channel", "source")
RELATIONSHIP_COLUMNS = (
    "id", "contact_id", "kind", "reference", "categories", "started_at", "service_date", "opt_out_offered",
    "order_value", "source", "recorded_at",
)  # fmt: skip


def _new_id() -> str:
    return str(uuid.uuid4())


def _events(contacts: list[tuple[str, str]], at: Callable[[datetime], Any]) -> Iterator[tuple[Any, ...]]:
    given, withdrawn, now = datetime(2024, 3, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC), at(NOW)
    for index, (contact_id, _) in enumerate(contacts):
        if index % SHARES["consent given (newsletter, e-mail)"] == 1:
            moment = at(given + timedelta(minutes=index))
            yield (_new_id(), contact_id, "newsletter", "email", "given", moment, now, "form", "shop",
                   True, "staff")  # fmt: skip
        if index % SHARES["of those, withdrawn later"] == 1:
            yield (_new_id(), contact_id, "newsletter", "email", "withdrawn", at(withdrawn), now, "mailchimp",
                   "mailchimp", False, "system")  # fmt: skip


def _objections(contacts: list[tuple[str, str]], at: Callable[[datetime], Any]) -> Iterator[tuple[Any, ...]]:
    moment, now = at(datetime(2025, 5, 5, tzinfo=UTC)), at(NOW)
    for index, (contact_id, _) in enumerate(contacts):
        if index % SHARES["objected to marketing"] == 2:
            yield _new_id(), contact_id, moment, now, None, None, SEED_SOURCE


def _relationships(
    contacts: list[tuple[str, str]], at: Callable[[datetime], Any], postgres: bool
) -> Iterator[tuple[Any, ...]]:
    now, amount = at(NOW), Decimal("499.00") if postgres else "499.00"  # SQLite: Numeric is text
    for index, (contact_id, _) in enumerate(contacts):
        if index % SHARES["purchase relationship"] == 3:
            started = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=index)
            yield (_new_id(), contact_id, "purchase", f"order-{index}", '["sko"]', at(started),
                   at(started + timedelta(days=2)), True, amount, SEED_SOURCE, now)  # fmt: skip


def _suppressions(
    contacts: list[tuple[str, str]], at: Callable[[datetime], Any]
) -> Iterator[tuple[Any, ...]]:
    now = at(NOW)
    for index, (_, email) in enumerate(contacts):
        if index % SHARES["suppressed (unsubscribed)"] == 0:
            yield address_hash(email, SUPPRESSION_KEY), "unsubscribed", now, SEED_SOURCE


def seed_store(url: str, directory: Path) -> str:
    """What a real store holds beside the first import's contacts, set-based (one bulk insert per
    table): for shares of the contacts (``SHARES``) a suppression, consent events and withdrawals,
    an objection and a purchase relationship. Returns what was added."""
    ctx = context(url, directory)
    with Session(ctx.engine) as session:
        connection = session.connection()
        contacts = [(str(i), str(e)) for i, e in connection.exec_driver_sql(
            "SELECT id, email FROM contacts WHERE email IS NOT NULL ORDER BY email"
        )]  # fmt: skip
        at = Encoder(connection.dialect.name).at
        postgres = connection.dialect.name == "postgresql"
        counts = {
            "suppressions": insert_rows(
                session, "suppressions", ("address_hash", "reason", "created_at", "source"),
                _suppressions(contacts, at),
            ),
            "consent events": insert_rows(session, "consent_events", EVENT_COLUMNS, _events(contacts, at)),
            "objections": insert_rows(session, "objections", OBJECTION_COLUMNS, _objections(contacts, at)),
            "relationships": insert_rows(
                session, "relationships", RELATIONSHIP_COLUMNS, _relationships(contacts, at, postgres)
            ),
        }  # fmt: skip
        refresh_statistics(session, ("suppressions", "consent_events", "objections", "relationships"))
        session.commit()
    ctx.engine.dispose()
    return f"{len(contacts):,} contacts with an address; " + ", ".join(
        f"{n:,} {what}" for what, n in counts.items()
    )


def in_child(work: Callable[[], str]) -> str:
    """Run one phase in a forked process and return its printed line: each phase's peak RSS is its own,
    not what the phases before it left behind."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            line = work()
        except BaseException as error:  # reported by the parent
            line = f"failed: {error!r}"
        with os.fdopen(write_end, "w") as out:
            out.write(line)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as result:
        line = result.read()
    os.waitpid(child, 0)
    return line


def dry_run(url: str, directory: Path, path: Path, rows: int, bare: tuple[float, float], label: str) -> str:
    ctx = context(url, directory)
    wall, cpu, plan = cpu_timed(lambda: run_import(ctx, ImportRequest(paths=[path])))
    counts = plan.counts()
    return (
        f"{label}: {wall:.1f} s ({cpu:.1f} s CPU), {rows / wall:,.0f} rows/s, ratio to bare csv.reader "
        f"{wall / bare[0]:.1f} (CPU {cpu / bare[1]:.1f}), peak RSS {peak_rss_mib():,.0f} MiB\n"
        f"  {counts['rows_read']:,} rows: {counts['contacts_new']:,} new, {counts['contacts_unchanged']:,} "
        f"unchanged, {counts['contacts_updated']:,} updated, "
        f"{counts['duplicates_merged']:,} duplicates merged, {counts['rows_rejected']:,} rejected, "
        f"{counts['blocked']:,} blocked"
    )


def apply(url: str, directory: Path, path: Path, rows: int, label: str) -> str:
    ctx = context(url, directory)
    wall, cpu, _ = cpu_timed(lambda: run_import(ctx, ImportRequest(paths=[path], apply=True)))
    again, _, plan = cpu_timed(lambda: run_import(ctx, ImportRequest(paths=[path], apply=True)))
    return (
        f"{label}: {wall:.1f} s ({cpu:.1f} s CPU), {rows / wall:,.0f} rows/s, "
        f"peak RSS {peak_rss_mib():,.0f} MiB\n"
        f"  applied again: {again:.1f} s, {len(plan.already_applied)} file already applied, nothing changed"
    )


def run_backend(
    name: str, url: str, path: Path, rows: int, bare: tuple[float, float], directory: Path
) -> None:
    print(in_child(lambda: dry_run(url, directory, path, rows, bare, f"{name} dry-run (empty store)")))
    print(in_child(lambda: apply(url, directory, path, rows, f"{name} apply")))
    print(f"  seeded store: {in_child(lambda: seed_store(url, directory))}")
    copy = directory / "contacts-copy.csv"
    copy.write_bytes(path.read_bytes() + b"\r\n")  # another hash, the same rows
    label = f"{name} dry-run of a copy (populated, seeded store)"
    print(in_child(lambda: dry_run(url, directory, copy, rows, bare, label)))
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    options = parser.parse_args()
    postgres = os.environ.get("CONSENT_SYNC_BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        path = directory / "contacts.csv"
        generate_seconds, _ = timed(lambda: write_file(path, options.rows))
        size = path.stat().st_size / 2**20
        print(
            f"file: {options.rows:,} rows, {size:,.0f} MiB, Windows-1252, ';' "
            f"(written in {generate_seconds:.1f} s)"
        )
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        bare = min(bare_pass(path) for _ in range(3))
        print(
            f"bare csv.reader pass: {bare[0]:.2f} s, {bare[1]:.2f} s CPU "
            f"({options.rows / bare[0]:,.0f} rows/s)"
        )
        if not options.skip_sqlite:
            run_backend("SQLite", f"sqlite:///{directory / 'bench.db'}", path, options.rows, bare, directory)
        if not options.skip_postgres:
            reset_postgres(postgres)
            run_backend("PostgreSQL", postgres, path, options.rows, bare, directory)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
