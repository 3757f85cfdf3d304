"""The Customer Journey trigger (``POST /customer-journeys/journeys/{journey_id}/steps/{step_id}/actions/
trigger``): the notice route inside the Marketing API for accounts without Transactional.

Mailchimp's reference documents the call (body ``{"email_address": …}``, 204 No Content) and nothing
about which contacts it reaches; its help says transactional e-mails of automations reach subscribed,
unsubscribed and non-subscribed contacts, and cleaned ones "nothing" (docs/mailchimp-behaviour.md
§"Customer Journey trigger"). A contact the trigger refuses (a 400) comes back as a
:class:`MemberOutcome`, never raised: the notice sender records it per member. A 404 means the journey or
step does not exist (a configuration error) and raises ``FatalMailchimpError``.
"""

from connector.core.remote import subscriber_hash
from connector.mailchimp.classify import Problem, problem_rejection_kind
from connector.mailchimp.payloads import MemberOutcome
from connector.mailchimp.transport import Endpoint, Transport

TRIGGER = Endpoint("POST", "/customer-journeys/journeys/{journey_id}/steps/{step_id}/actions/trigger")


class JourneyCalls:
    _transport: Transport

    def trigger_journey(self, journey_id: int, step_id: int, email: str) -> MemberOutcome | None:
        """Start ``email`` at the journey's API step: ``None`` when Mailchimp accepted, else the refusal."""
        reply = self._transport.call(
            TRIGGER,
            {"journey_id": journey_id, "step_id": step_id},
            body={"email_address": email},
            accept=(400,),
        )
        if reply.status != 400:
            return None
        problem = reply.problem or Problem(400, None, None)
        return MemberOutcome(
            email_address=email,
            subscriber_hash=subscriber_hash(email),
            kind=problem_rejection_kind(problem),
            error_code=problem.title,
            message=problem.describe(),
        )
