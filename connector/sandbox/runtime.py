"""The running sandbox: state, knobs, observations, faults, webhook delivery, and how a member change
is committed (stored, confirmations simulated, webhooks fired, state saved)."""

from datetime import UTC, datetime
from typing import Any

import structlog

from connector.core.remote import RemoteMember
from connector.core.transitions import Outcome, Rejection, Source, sends_confirmation
from connector.sandbox.assumptions import MEMBER_RULES
from connector.sandbox.faults import FaultPlan
from connector.sandbox.knobs import SandboxKnobs
from connector.sandbox.observations import Observations
from connector.sandbox.persistence import SnapshotStore
from connector.sandbox.problems import from_rejection
from connector.sandbox.state import (
    Audience,
    Confirmation,
    MemberExtras,
    SandboxState,
    SegmentRecord,
    member_ids,
)
from connector.sandbox.transactional_state import TransactionalState
from connector.sandbox.webhook_events import EventContext, WebhookEvent, encode, events_for
from connector.sandbox.webhooks import Delivery, WebhookDispatcher

log = structlog.get_logger("connector.sandbox")


class SandboxRuntime:
    """Everything one sandbox instance shares between its routes, workers and runner."""

    def __init__(self, state: SandboxState, knobs: SandboxKnobs, seed: int) -> None:
        self.state = state
        self.knobs = knobs
        self.rules = MEMBER_RULES
        self.faults = FaultPlan(knobs, seed)
        self.observations = Observations(knobs.request_log_size)
        self.webhooks = WebhookDispatcher(knobs, self.disable_webhook)
        self.store = SnapshotStore(knobs.state_file) if knobs.state_file else None
        self.transactional = TransactionalState()
        """Transactional's templates, rejects, webhooks and outbox, and the journeys (in memory only)."""
        self.app: Any = None
        """The ASGI app, which ``/batches`` calls to run its operations."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def start(self) -> None:
        self.webhooks.start()

    def stop(self) -> None:
        self.webhooks.stop()

    def persist(self) -> None:
        if self.store is not None:
            with self.state.lock:
                self.store.save(self.state.data)

    def reset(self) -> None:
        self.state.reset()
        self.transactional.reset()
        self.observations.reset()
        self.webhooks.clear()
        self.faults.reseed()
        self.persist()
        log.info("sandbox.reset")

    def extras(self, audience: Audience, subscriber_hash: str) -> MemberExtras:
        found = audience.extras.get(subscriber_hash)
        if found is None:
            unique_email_id, contact_id = member_ids(audience.id, subscriber_hash)
            found = MemberExtras(unique_email_id, self.state.next_number(), contact_id)
            audience.extras[subscriber_hash] = found
        return found

    def commit_or_raise(
        self, audience: Audience, before: RemoteMember | None, outcome: Outcome, source: Source = Source.API
    ) -> RemoteMember:
        """Commit a transition's member, or answer its rejection."""
        if isinstance(outcome, Rejection):
            raise from_rejection(outcome)
        return self.commit(audience, before, outcome, source)

    def commit(
        self,
        audience: Audience,
        before: RemoteMember | None,
        after: RemoteMember,
        source: Source,
        *,
        campaign_id: str = "",
    ) -> RemoteMember:
        """Store ``after``; simulate a confirmation e-mail and fire webhooks as Mailchimp would."""
        if after == before:
            return after
        with self.state.lock:
            self._store(audience, before, after)
            if sends_confirmation(before, after):
                confirmation = Confirmation(
                    audience.id, after.subscriber_hash, after.last_changed, after.email
                )
                self.state.data.confirmations.append(confirmation)
                log.info("sandbox.confirmation.sent", list_id=audience.id, member=after.subscriber_hash)
        self._fire(audience, before, after, source, campaign_id)
        return after

    def _store(self, audience: Audience, before: RemoteMember | None, after: RemoteMember) -> None:
        if before is not None and before.subscriber_hash != after.subscriber_hash:
            audience.members.pop(before.subscriber_hash, None)
            audience.extras[after.subscriber_hash] = self.extras(audience, before.subscriber_hash)
            audience.extras.pop(before.subscriber_hash, None)
        audience.members[after.subscriber_hash] = after
        self._track_tags(audience, before.tags if before else frozenset(), after)

    def _track_tags(self, audience: Audience, before: frozenset[str], after: RemoteMember) -> None:
        extras = self.extras(audience, after.subscriber_hash)
        if after.tags == before:
            return
        for name in after.tags - before:
            self.tag_segment(audience, name)
            extras.tag_dates[name] = after.last_changed
        for name in before - after.tags:
            extras.tag_dates.pop(name, None)

    def tag_segment(self, audience: Audience, name: str) -> SegmentRecord:
        """The static segment that is the tag ``name``, created on first use."""
        found = audience.tag_segment(name)
        if found is None:
            now = self.now()
            found = SegmentRecord(self.state.next_number(), name, "static", now, now)
            audience.segments[found.id] = found
        return found

    def _fire(
        self,
        audience: Audience,
        before: RemoteMember | None,
        after: RemoteMember,
        source: Source,
        campaign_id: str,
    ) -> None:
        if not audience.webhooks or not any(hook.enabled for hook in audience.webhooks.values()):
            return
        short = self.extras(audience, after.subscriber_hash).unique_email_id
        context = EventContext(audience.id, short, self.now(), campaign_id)
        for event in events_for(before, after, source, context):
            self._deliver(audience, event)

    def _deliver(self, audience: Audience, event: WebhookEvent) -> None:
        body = encode(event)
        for hook in list(audience.webhooks.values()):
            wanted = hook.enabled and hook.events.get(event.type, False)
            if wanted and (event.source is None or hook.sources.get(event.source.value, False)):
                delivery = Delivery(audience.id, hook.id, hook.url, hook.signing_secret, event.type, body)
                self.webhooks.submit(delivery)

    def disable_webhook(self, list_id: str, webhook_id: str) -> None:
        """A target answered 410: Mailchimp disables the webhook for good."""
        with self.state.lock:
            audience = self.state.audience(list_id)
            hook = audience.webhooks.get(webhook_id) if audience else None
            if hook is not None:
                hook.enabled = False
        log.info("sandbox.webhook.disabled", list_id=list_id, webhook_id=webhook_id)
