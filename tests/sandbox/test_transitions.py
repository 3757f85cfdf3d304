"""The pure model of how Mailchimp changes a member (connector.core.transitions)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core import transitions as t
from connector.core.remote import MemberStatus, RemoteMember, subscriber_hash
from connector.sandbox.assumptions import MEMBER_RULES

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
EMAIL = "Ann.Berg@Konsert.no "


def created(status: MemberStatus = MemberStatus.SUBSCRIBED) -> RemoteMember:
    outcome = t.upsert(None, EMAIL, status=None, status_if_new=status, merge_fields={"FNAME": "Ann"}, now=NOW)
    assert isinstance(outcome, RemoteMember)
    return outcome


def test_subscriber_hash_is_md5_of_trimmed_lowercase() -> None:
    assert subscriber_hash(" Ann.Berg@Konsert.NO") == subscriber_hash("ann.berg@konsert.no")
    assert len(subscriber_hash("a@b.no")) == 32


def test_sandbox_rules_are_the_default_rules() -> None:
    assert t.Rules() == MEMBER_RULES


def test_upsert_creates_with_status_if_new() -> None:
    member = created()
    assert member.status is MemberStatus.SUBSCRIBED
    assert member.subscriber_hash == subscriber_hash(EMAIL)
    assert member.merge_map == {"FNAME": "Ann"}
    assert member.last_changed == NOW


def test_upsert_needs_a_status_to_create() -> None:
    outcome = t.upsert(None, EMAIL, status=None, status_if_new=None, merge_fields={}, now=NOW)
    assert isinstance(outcome, t.Rejection)
    assert outcome.title == t.INVALID_RESOURCE


def test_status_if_new_never_changes_an_existing_member() -> None:
    member = created(MemberStatus.UNSUBSCRIBED)
    outcome = t.upsert(
        member, EMAIL, status=None, status_if_new=MemberStatus.SUBSCRIBED, merge_fields={}, now=LATER
    )
    assert outcome == member


def test_self_unsubscribed_member_cannot_be_subscribed() -> None:
    member = t.unsubscribe_by_person(created(), LATER)
    assert isinstance(member, RemoteMember)
    outcome = t.upsert(
        member, EMAIL, status=MemberStatus.SUBSCRIBED, status_if_new=None, merge_fields={}, now=LATER
    )
    assert isinstance(outcome, t.Rejection)
    assert outcome.title == "Member In Compliance State"
    assert "compliance state" in outcome.detail


def test_api_unsubscribe_is_a_compliance_state_by_assumption() -> None:
    member = t.patch(created(), email=None, status=MemberStatus.UNSUBSCRIBED, merge_fields={}, now=LATER)
    assert isinstance(member, RemoteMember)
    assert member.in_compliance_state
    lenient = t.Rules(api_unsubscribe_is_compliance_state=False)
    relaxed = t.patch(
        created(), email=None, status=MemberStatus.UNSUBSCRIBED, merge_fields={}, now=LATER, rules=lenient
    )
    assert isinstance(relaxed, RemoteMember)
    assert not relaxed.in_compliance_state


def test_pending_then_confirmation_is_the_way_back() -> None:
    member = t.unsubscribe_by_person(created(), NOW)
    assert isinstance(member, RemoteMember)
    pending = t.set_status(member, MemberStatus.PENDING, t.Source.API, LATER)
    assert isinstance(pending, RemoteMember)
    assert pending.status is MemberStatus.PENDING
    assert t.sends_confirmation(member, pending)
    assert not t.sends_confirmation(pending, pending)
    confirmed = t.confirm(pending, LATER)
    assert isinstance(confirmed, RemoteMember)
    assert confirmed.status is MemberStatus.SUBSCRIBED
    assert not confirmed.in_compliance_state


def test_cleaned_member_cannot_be_subscribed_or_set_pending() -> None:
    cleaned = t.bounce(created(), NOW)
    assert isinstance(cleaned, RemoteMember)
    for target in (MemberStatus.SUBSCRIBED, MemberStatus.PENDING):
        outcome = t.set_status(cleaned, target, t.Source.API, LATER)
        assert isinstance(outcome, t.Rejection)
        assert outcome.title == t.COMPLIANCE_STATE


def test_forgotten_address_cannot_be_re_added_even_as_pending() -> None:
    tombstone = t.delete_permanent(created(), NOW)
    assert isinstance(tombstone, RemoteMember)
    assert tombstone.forgotten
    assert tombstone.email == ""
    outcome = t.upsert(
        tombstone, EMAIL, status=None, status_if_new=MemberStatus.PENDING, merge_fields={}, now=LATER
    )
    assert isinstance(outcome, t.Rejection)
    assert outcome.title == "Forgotten Email Not Subscribed"


def test_fake_looking_addresses_are_invalid_resources() -> None:
    for email in ("someone@example.com", "x@shop.test", "y@mail.invalid", "not-an-address"):
        outcome = t.upsert(
            None, email, status=MemberStatus.SUBSCRIBED, status_if_new=None, merge_fields={}, now=NOW
        )
        assert isinstance(outcome, t.Rejection)
        assert outcome.title == "Invalid Resource"


def test_archived_member_is_not_unarchived_by_status_if_new() -> None:
    archived = t.archive(created(), NOW)
    assert isinstance(archived, RemoteMember)
    assert archived.status is MemberStatus.ARCHIVED
    assert archived.status_before_archive is MemberStatus.SUBSCRIBED
    kept = t.upsert(
        archived, EMAIL, status=None, status_if_new=MemberStatus.SUBSCRIBED, merge_fields={}, now=LATER
    )
    assert isinstance(kept, RemoteMember)
    assert kept.status is MemberStatus.ARCHIVED
    back = t.upsert(
        archived, EMAIL, status=MemberStatus.SUBSCRIBED, status_if_new=None, merge_fields={}, now=LATER
    )
    assert isinstance(back, RemoteMember)
    assert back.status is MemberStatus.SUBSCRIBED


def test_archiving_twice_is_not_found() -> None:
    archived = t.archive(created(), NOW)
    assert isinstance(archived, RemoteMember)
    outcome = t.archive(archived, LATER)
    assert isinstance(outcome, t.Rejection)
    assert outcome.status == 404


def test_tags_add_and_remove_and_bump_last_changed() -> None:
    member = created()
    tagged = t.add_tags(member, frozenset({"cs:news", "cs:offers"}), LATER)
    assert isinstance(tagged, RemoteMember)
    assert tagged.tags == {"cs:news", "cs:offers"}
    assert tagged.last_changed == LATER
    untagged = t.remove_tags(tagged, frozenset({"cs:news"}), LATER)
    assert isinstance(untagged, RemoteMember)
    assert untagged.tags == {"cs:offers"}
    assert t.add_tags(untagged, frozenset({"cs:offers"}), LATER + timedelta(hours=1)) == untagged


def test_batch_item_needs_update_existing_for_a_present_member() -> None:
    member = created()
    outcome = t.batch_subscribe_item(
        member, EMAIL, status=MemberStatus.SUBSCRIBED, merge_fields={}, tags=frozenset(),
        update_existing=False, sync_tags=False, now=LATER,
    )  # fmt: skip
    assert isinstance(outcome, t.Rejection)
    assert outcome.error_code == "ERROR_CONTACT_EXISTS"


def test_batch_item_sync_tags_replaces_tags() -> None:
    member = t.add_tags(created(), frozenset({"old"}), NOW)
    assert isinstance(member, RemoteMember)
    outcome = t.batch_subscribe_item(
        member, EMAIL, status=None, merge_fields={"FNAME": "Anna"}, tags=frozenset({"new"}),
        update_existing=True, sync_tags=True, now=LATER,
    )  # fmt: skip
    assert isinstance(outcome, RemoteMember)
    assert outcome.tags == {"new"}
    assert outcome.merge_map["FNAME"] == "Anna"


def test_patch_changes_the_address_and_the_hash() -> None:
    outcome = t.patch(created(), email="ann@nyadresse.no", status=None, merge_fields={}, now=LATER)
    assert isinstance(outcome, RemoteMember)
    assert outcome.subscriber_hash == subscriber_hash("ann@nyadresse.no")


def test_patch_of_a_missing_member_is_not_found() -> None:
    outcome = t.patch(None, email=None, status=MemberStatus.SUBSCRIBED, merge_fields={}, now=NOW)
    assert isinstance(outcome, t.Rejection)
    assert outcome.status == 404


# --- properties -------------------------------------------------------------------------------------

statuses = st.sampled_from([s for s in MemberStatus if s is not MemberStatus.ARCHIVED])
sources = st.sampled_from(list(t.Source))
steps = st.one_of(
    st.tuples(st.just("upsert"), st.one_of(st.none(), statuses), st.one_of(st.none(), statuses)),
    st.tuples(st.just("patch"), st.one_of(st.none(), statuses), st.none()),
    st.tuples(st.just("batch"), st.one_of(st.none(), statuses), st.booleans()),
    st.tuples(
        st.just("person"), st.sampled_from(["unsubscribe", "complain", "bounce", "confirm"]), st.none()
    ),
    st.tuples(st.just("archive"), st.none(), st.none()),
    st.tuples(st.just("delete"), st.none(), st.none()),
)


def apply(member: RemoteMember | None, step: tuple[str, object, object], now: datetime) -> t.Outcome:
    kind, first, second = step
    if kind == "upsert":
        return t.upsert(member, EMAIL, status=first, status_if_new=second, merge_fields={}, now=now)  # type: ignore[arg-type]
    if kind == "patch":
        return t.patch(member, email=None, status=first, merge_fields={}, now=now)  # type: ignore[arg-type]
    if kind == "batch":
        return t.batch_subscribe_item(
            member, EMAIL, status=first, merge_fields={}, tags=frozenset(),  # type: ignore[arg-type]
            update_existing=bool(second), sync_tags=False, now=now,
        )  # fmt: skip
    if kind == "archive":
        return t.archive(member, now)
    if kind == "delete":
        return t.delete_permanent(member, now)
    person = {
        "unsubscribe": lambda: t.unsubscribe_by_person(member, now),
        "complain": lambda: t.unsubscribe_by_person(member, now, complaint=True),
        "bounce": lambda: t.bounce(member, now),
        "confirm": lambda: t.confirm(member, now),
    }
    return person[str(first)]()


def run(history: list[tuple[str, object, object]]) -> list[tuple[RemoteMember | None, t.Outcome]]:
    member: RemoteMember | None = None
    trace = []
    for index, step in enumerate(history):
        outcome = apply(member, step, NOW + timedelta(minutes=index))
        trace.append((member, outcome))
        if isinstance(outcome, RemoteMember):
            member = outcome
    return trace


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=12))
def test_no_api_call_subscribes_a_member_in_compliance_state(
    history: list[tuple[str, object, object]],
) -> None:
    for before, outcome in run(history):
        if before is not None and before.in_compliance_state and isinstance(outcome, RemoteMember):
            confirmed_by_person = before.status is MemberStatus.PENDING and not outcome.in_compliance_state
            assert outcome.status is not MemberStatus.SUBSCRIBED or confirmed_by_person


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=12))
def test_a_forgotten_address_stays_forgotten(history: list[tuple[str, object, object]]) -> None:
    for before, outcome in run(history):
        if before is not None and before.forgotten:
            assert isinstance(outcome, t.Rejection)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=12))
def test_cleaned_is_never_left_by_the_api_for_subscribed(history: list[tuple[str, object, object]]) -> None:
    for before, outcome in run(history):
        if before is not None and before.status is MemberStatus.CLEANED and isinstance(outcome, RemoteMember):
            assert outcome.status not in (MemberStatus.SUBSCRIBED, MemberStatus.PENDING)


@settings(max_examples=200, deadline=None)
@given(statuses, sources)
def test_transitions_are_deterministic_values(status: MemberStatus, source: t.Source) -> None:
    member = created()
    first = t.set_status(member, status, source, LATER)
    assert first == t.set_status(member, status, source, LATER)
    if isinstance(first, RemoteMember):
        assert replace(first) == first
