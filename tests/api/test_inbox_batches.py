"""Group commit of webhook intake: one transaction per batch, each event answering for itself."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import col

from connector.api.app import create_app
from connector.api.inbox import Delivery, Intake, IntakeReport, accept_batch
from connector.api.inbox_writer import InboxWriter
from connector.api.metrics import build_metrics
from connector.core.remote import subscriber_hash
from connector.core.webhook_events import parse_event
from connector.services.context import AppContext
from connector.services.explain import explain_contact
from connector.store.engine import unit_of_work
from connector.store.http_tables import SyncRequestRow, WebhookInboxRow
from connector.store.sync_tables import MirrorMemberRow
from connector.store.tables import ConsentEventRow, ContactRow
from tests.api.conftest import (
    FORM,
    HOOK,
    LIST_ID,
    consented,
    event_body,
    subscribe,
    unsubscribe,
    with_sections,
)
from tests.conftest import START

PEOPLE = [f"person{n}@firma.no" for n in range(6)]
SECOND = timedelta(seconds=1)

NEVER_REACHED_SECONDS = 600.0
"""A batching window no test waits out: batches here close when full or when the writer stops."""


def _consented(ctx: AppContext, email: str) -> None:
    consented(ctx, email, at=START - timedelta(days=10))


def _delivery(body: bytes) -> Delivery:
    return Delivery(parse_event(body), body)


def _count(ctx: AppContext, table: type, *where: object) -> int:
    with unit_of_work(ctx.engine) as session:
        return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _withdrawals(ctx: AppContext, email: str) -> int:
    with unit_of_work(ctx.engine) as session:
        query = (
            select(func.count())
            .select_from(ConsentEventRow)
            .join(ContactRow, col(ContactRow.id) == col(ConsentEventRow.contact_id))
            .where(col(ContactRow.email) == email, col(ConsentEventRow.action) == "withdrawn")
        )
        return int(session.execute(query).scalar_one())


def _newsletter_allowed(ctx: AppContext, email: str) -> bool:
    entitlement = explain_contact(ctx, email).entitlement
    return next(d.allowed for d in entitlement.marketing if d.purpose == "newsletter")


@contextmanager
def _counted_commits(ctx: AppContext) -> Iterator[list[object]]:
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(ctx.engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(ctx.engine, "commit", count)


@contextmanager
def _failing_inbox_insert(ctx: AppContext, email: str) -> Iterator[None]:
    """Every inbox insert of an event for ``email`` fails, as a database error would."""
    key = parse_event(unsubscribe(email, START)).dedup_key

    def fail(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if "INSERT INTO webhook_inbox" in statement and key in str(parameters):
            raise OperationalError(statement, {}, Exception("injected failure"))

    event.listen(ctx.engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(ctx.engine, "before_cursor_execute", fail)


@contextmanager
def _conflicting_inbox_insert_once(ctx: AppContext) -> Iterator[None]:
    """The next inbox insert fails on the unique key, as when another worker committed one of its keys."""
    conflicts = [IntegrityError("INSERT INTO webhook_inbox", {}, Exception("injected unique violation"))]

    def conflict(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "INSERT INTO webhook_inbox" in statement and conflicts:
            raise conflicts.pop()

    event.listen(ctx.engine, "before_cursor_execute", conflict)
    try:
        yield
    finally:
        event.remove(ctx.engine, "before_cursor_execute", conflict)


@contextmanager
def _counted_checkouts(ctx: AppContext) -> Iterator[list[object]]:
    checkouts: list[object] = []

    def count(*_: object) -> None:
        checkouts.append(_)

    event.listen(ctx.engine, "checkout", count)
    try:
        yield checkouts
    finally:
        event.remove(ctx.engine, "checkout", count)


def _written_by(writer: InboxWriter, deliveries: list[Delivery]) -> list[IntakeReport | SQLAlchemyError]:
    """Each delivery handed to the writer once the previous one was answered: its report or its error."""

    async def one_by_one() -> list[IntakeReport | SQLAlchemyError]:
        answers: list[IntakeReport | SQLAlchemyError] = []
        for delivery in deliveries:
            try:
                answers.append(await writer.accept(delivery))
            except SQLAlchemyError as exc:
                answers.append(exc)
        return answers

    try:
        return asyncio.run(one_by_one())
    finally:
        writer.stop()


def test_a_batch_applies_every_event_in_one_transaction(api_ctx: AppContext) -> None:
    for email in PEOPLE:
        _consented(api_ctx, email)
    with _counted_commits(api_ctx) as commits:
        answers = accept_batch(api_ctx, [_delivery(unsubscribe(e, START)) for e in PEOPLE])
    assert answers == [IntakeReport(Intake.APPLIED, "main")] * len(PEOPLE)
    assert len(commits) == 1
    assert all(_withdrawals(api_ctx, e) == 3 for e in PEOPLE)  # one per purpose of the audience
    assert _count(api_ctx, WebhookInboxRow) == len(PEOPLE)
    assert _count(api_ctx, SyncRequestRow) == 1


def test_the_same_event_twice_in_a_batch_is_applied_once(api_ctx: AppContext) -> None:
    _consented(api_ctx, PEOPLE[0])
    body = unsubscribe(PEOPLE[0], START)
    answers = accept_batch(
        api_ctx, [_delivery(body), _delivery(unsubscribe(PEOPLE[1], START)), _delivery(body)]
    )
    assert [a.intake for a in answers if isinstance(a, IntakeReport)] == [
        Intake.APPLIED,
        Intake.APPLIED,
        Intake.DUPLICATE,
    ]
    assert _withdrawals(api_ctx, PEOPLE[0]) == 3
    assert _count(api_ctx, WebhookInboxRow) == 2
    again = accept_batch(api_ctx, [_delivery(body)])
    assert again == [IntakeReport(Intake.DUPLICATE, None)]


def test_one_failing_event_fails_alone_and_the_others_commit(api_ctx: AppContext) -> None:
    for email in PEOPLE[:3]:
        _consented(api_ctx, email)
    deliveries = [_delivery(unsubscribe(e, START)) for e in PEOPLE[:3]]
    with _failing_inbox_insert(api_ctx, PEOPLE[1]):
        answers = accept_batch(api_ctx, deliveries)
    assert answers[0] == answers[2] == IntakeReport(Intake.APPLIED, "main")
    assert isinstance(answers[1], SQLAlchemyError)
    assert [_withdrawals(api_ctx, e) for e in PEOPLE[:3]] == [3, 0, 3]
    assert _count(api_ctx, WebhookInboxRow) == 2
    assert accept_batch(api_ctx, [deliveries[1]]) == [IntakeReport(Intake.APPLIED, "main")]


def test_metrics_count_a_fallback_and_each_committed_transaction(api_ctx: AppContext) -> None:
    metrics = build_metrics(api_ctx)
    deliveries = [_delivery(unsubscribe(e, START)) for e in PEOPLE[:3]]
    accept_batch(api_ctx, deliveries[:2], metrics)  # one batch of two
    with _failing_inbox_insert(api_ctx, PEOPLE[3]):
        accept_batch(api_ctx, [deliveries[2], _delivery(unsubscribe(PEOPLE[3], START))], metrics)
    assert metrics.registry.get_sample_value("consent_sync_webhook_batch_fallbacks_total") == 1
    assert metrics.registry.get_sample_value("consent_sync_webhook_batch_size_count") == 2  # 2, then 1 alone
    assert metrics.registry.get_sample_value("consent_sync_webhook_batch_size_sum") == 3


def test_an_older_subscribe_in_the_same_batch_never_overrides_a_newer_unsubscribe(
    api_ctx: AppContext,
) -> None:
    trusting = replace(
        api_ctx, settings=with_sections(api_ctx.settings, policy={"trust_mailchimp_signup_forms": True})
    )
    first, second = PEOPLE[0], PEOPLE[1]
    for email in (first, second):
        _consented(trusting, email)
    newer_unsubscribe = [_delivery(unsubscribe(e, START - timedelta(hours=1))) for e in (first, second)]
    older_subscribe = [_delivery(subscribe(e, START - timedelta(hours=2))) for e in (first, second)]
    # the older sign-up arrives after the unsubscribe for one person, before it for the other
    accept_batch(
        trusting, [newer_unsubscribe[0], older_subscribe[0], older_subscribe[1], newer_unsubscribe[1]]
    )
    assert not _newsletter_allowed(trusting, first)
    assert not _newsletter_allowed(trusting, second)


def test_the_writer_commits_what_queued_meanwhile_as_one_batch(api_ctx: AppContext) -> None:
    for email in PEOPLE:
        _consented(api_ctx, email)
    held, gate = threading.Event(), threading.Event()

    def hold_first_statement(*_: object) -> None:
        held.set()
        gate.wait(timeout=10)

    event.listen(api_ctx.engine, "before_cursor_execute", hold_first_statement)
    writer = InboxWriter(api_ctx)
    deliveries = [_delivery(unsubscribe(e, START)) for e in PEOPLE]

    async def deliver_all() -> list[IntakeReport]:
        answers = [asyncio.ensure_future(writer.accept(deliveries[0]))]
        while not held.is_set():  # the first delivery is being written, alone
            await asyncio.sleep(0.01)
        answers += [asyncio.ensure_future(writer.accept(d)) for d in deliveries[1:]]
        await asyncio.sleep(0.2)  # the rest queue meanwhile
        gate.set()
        return await asyncio.gather(*answers)

    try:
        with _counted_commits(api_ctx) as commits:
            reports = asyncio.run(deliver_all())
    finally:
        writer.stop()
        event.remove(api_ctx.engine, "before_cursor_execute", hold_first_statement)
    assert reports == [IntakeReport(Intake.APPLIED, "main")] * len(PEOPLE)
    assert len(commits) == 2  # the first delivery alone, then the five that queued behind it


def test_concurrent_calls_answer_503_only_for_the_event_that_cannot_be_stored(api_ctx: AppContext) -> None:
    for email in PEOPLE:
        _consented(api_ctx, email)
    statuses: dict[str, int] = {}
    start = threading.Barrier(len(PEOPLE))

    def deliver(client: TestClient, email: str) -> None:
        start.wait()
        statuses[email] = client.post(HOOK, content=unsubscribe(email, START), headers=FORM).status_code

    with TestClient(create_app(api_ctx)) as client, _failing_inbox_insert(api_ctx, PEOPLE[2]):
        threads = [threading.Thread(target=deliver, args=(client, e)) for e in PEOPLE]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == {e: 503 if e == PEOPLE[2] else 200 for e in PEOPLE}
    assert [_withdrawals(api_ctx, e) for e in PEOPLE] == [0 if e == PEOPLE[2] else 3 for e in PEOPLE]


def test_the_mirror_takes_the_status_mailchimp_reported(api_ctx: AppContext) -> None:
    _consented(api_ctx, PEOPLE[0])
    with unit_of_work(api_ctx.engine) as session:
        for email in PEOPLE[:2]:
            hashed = subscriber_hash(email)
            session.add(
                MirrorMemberRow(
                    list_id=LIST_ID,
                    audience="main",
                    subscriber_hash=hashed,
                    email=email,
                    status="subscribed",
                    confirmed_at=START,
                )
            )
    accept_batch(api_ctx, [_delivery(unsubscribe(PEOPLE[0], START))])
    with unit_of_work(api_ctx.engine) as session:
        statuses = [session.get(MirrorMemberRow, (LIST_ID, subscriber_hash(e))) for e in PEOPLE[:2]]
        assert [row.status if row else None for row in statuses] == ["unsubscribed", "subscribed"]


def test_a_status_fired_before_the_mirror_was_confirmed_changes_nothing(api_ctx: AppContext) -> None:
    """Found by the chaos run: a sign-up's webhook, reordered to arrive after the sync archived the member,
    made the mirror say ``subscribed`` again; the next complete read (archived members are not in it)
    then recorded the member as permanently deleted in Mailchimp: a second withdrawal, a suppression and
    a forgotten mirror row."""
    archived, unsubscribed = PEOPLE[0], PEOPLE[1]
    confirmed = START - timedelta(minutes=20)  # the sync's archive (START is the service's now)
    with unit_of_work(api_ctx.engine) as session:
        for email, status in ((archived, "archived"), (unsubscribed, "unsubscribed")):
            session.add(
                MirrorMemberRow(
                    list_id=LIST_ID,
                    audience="main",
                    subscriber_hash=subscriber_hash(email),
                    email=email,
                    status=status,
                    confirmed_at=confirmed,
                )
            )
    signed_up = confirmed - timedelta(minutes=20)
    late = [event_body("subscribe", signed_up, list_id=LIST_ID, email=e) for e in (archived, unsubscribed)]
    accept_batch(api_ctx, [_delivery(body) for body in late])
    assert _mirror_statuses(api_ctx, [archived, unsubscribed]) == ["archived", "unsubscribed"]
    news = event_body("subscribe", confirmed, list_id=LIST_ID, email=unsubscribed)  # the same second
    accept_batch(api_ctx, [_delivery(news)])
    assert _mirror_statuses(api_ctx, [archived, unsubscribed]) == ["archived", "subscribed"]


def _mirror_statuses(ctx: AppContext, emails: list[str]) -> list[str | None]:
    with unit_of_work(ctx.engine) as session:
        rows = [session.get(MirrorMemberRow, (LIST_ID, subscriber_hash(e))) for e in emails]
        return [row.status if row else None for row in rows]


def test_events_for_one_person_in_one_batch_see_each_other(api_ctx: AppContext) -> None:
    old, new = PEOPLE[0], "moved@firma.no"
    _consented(api_ctx, old)
    moved = event_body("upemail", START, list_id=LIST_ID, new_id="x1", new_email=new, old_email=old)
    profile = event_body("profile", START, id="x1", list_id=LIST_ID, email=new, merges__FNAME="Kari")
    newcomer = [_delivery(unsubscribe(PEOPLE[1], START)), _delivery(unsubscribe(PEOPLE[1], START + SECOND))]
    batch = [_delivery(moved), _delivery(profile), _delivery(unsubscribe(new, START)), *newcomer]
    answers = accept_batch(api_ctx, batch)
    assert [a.intake for a in answers if isinstance(a, IntakeReport)] == [Intake.APPLIED] * 5
    with unit_of_work(api_ctx.engine) as session:
        emails = sorted(session.execute(select(col(ContactRow.email))).scalars())
        first_name = session.execute(select(col(ContactRow.first_name)).where(col(ContactRow.email) == new))
        assert first_name.scalar_one() == "Kari"
    assert emails == sorted([new, PEOPLE[1]])  # the moved contact, and one new contact for two events
    assert _withdrawals(api_ctx, new) == 3
    assert _withdrawals(api_ctx, PEOPLE[1]) == 6


def test_a_batch_that_conflicts_on_a_key_runs_once_more_instead_of_one_event_per_transaction(
    api_ctx: AppContext,
) -> None:
    metrics = build_metrics(api_ctx)
    for email in PEOPLE[:3]:
        _consented(api_ctx, email)
    deliveries = [_delivery(unsubscribe(e, START)) for e in PEOPLE[:3]]
    with _conflicting_inbox_insert_once(api_ctx), _counted_commits(api_ctx) as commits:
        answers = accept_batch(api_ctx, deliveries, metrics)
    assert answers == [IntakeReport(Intake.APPLIED, "main")] * 3
    assert len(commits) == 1  # the failed attempt rolled back; the second committed all three
    assert metrics.registry.get_sample_value("consent_sync_webhook_batch_fallbacks_total") == 0
    assert [_withdrawals(api_ctx, e) for e in PEOPLE[:3]] == [3, 3, 3]


def test_the_writer_keeps_one_connection_and_replaces_it_after_a_failure(api_ctx: AppContext) -> None:
    for email in PEOPLE[:4]:
        _consented(api_ctx, email)
    deliveries = [_delivery(unsubscribe(e, START)) for e in PEOPLE[:4]]
    with _counted_checkouts(api_ctx) as checkouts, _failing_inbox_insert(api_ctx, PEOPLE[1]):
        answers = _written_by(InboxWriter(api_ctx), deliveries)
    assert isinstance(answers[1], SQLAlchemyError)
    assert [answers[i] for i in (0, 2, 3)] == [IntakeReport(Intake.APPLIED, "main")] * 3
    assert len(checkouts) == 2  # one for the first two batches, a new one after the failure
    assert [_withdrawals(api_ctx, e) for e in PEOPLE[:4]] == [3, 0, 3, 3]


def test_the_writer_waits_its_window_for_company(api_ctx: AppContext) -> None:
    for email in PEOPLE:
        _consented(api_ctx, email)
    # A window far longer than any test run and a batch the size of the deliveries: the writer commits
    # when the batch is full, so the outcome does not depend on how fast this machine is.
    writer = InboxWriter(api_ctx, window=NEVER_REACHED_SECONDS, max_batch=len(PEOPLE))
    deliveries = [_delivery(unsubscribe(e, START)) for e in PEOPLE]

    async def deliver_all() -> list[IntakeReport]:
        answers = [asyncio.ensure_future(writer.accept(deliveries[0]))]
        await asyncio.sleep(0.05)  # the first delivery waits for company ...
        assert not answers[0].done()
        answers += [asyncio.ensure_future(writer.accept(d)) for d in deliveries[1:]]
        return await asyncio.gather(*answers)  # ... and commits with the rest

    try:
        with _counted_commits(api_ctx) as commits:
            reports = asyncio.run(deliver_all())
    finally:
        writer.stop()
    assert reports == [IntakeReport(Intake.APPLIED, "main")] * len(PEOPLE)
    assert len(commits) == 1


def test_a_request_that_went_away_does_not_keep_its_batch_from_answering(api_ctx: AppContext) -> None:
    for email in PEOPLE[:2]:
        _consented(api_ctx, email)
    # The batch waits for a third delivery that never comes (for a window no run reaches), so it is
    # certainly still open when the first caller gives up; stopping the writer then commits it.
    writer = InboxWriter(api_ctx, window=NEVER_REACHED_SECONDS, max_batch=3)
    deliveries = [_delivery(unsubscribe(e, START)) for e in PEOPLE[:2]]

    async def one_gives_up() -> IntakeReport:
        gone = asyncio.ensure_future(writer.accept(deliveries[0]))
        staying = asyncio.ensure_future(writer.accept(deliveries[1]))
        await asyncio.sleep(0.05)  # both queued, the batch still waiting for company
        assert not staying.done()
        gone.cancel()
        await asyncio.to_thread(writer.stop)  # commits what is queued
        return await staying

    try:
        assert asyncio.run(one_gives_up()) == IntakeReport(Intake.APPLIED, "main")
    finally:
        writer.stop()
    assert [_withdrawals(api_ctx, e) for e in PEOPLE[:2]] == [
        3,
        3,
    ]  # queued is committed: a retry is a duplicate
