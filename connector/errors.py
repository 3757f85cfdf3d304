"""Every error consent-sync raises on purpose, grouped by how the caller should react.

- ``ConfigError``: refuse to start; the message names the key.
- ``InputError``: bad input (CSV row, CLI option, request field); report where, write nothing.
- ``RetryableMailchimpError``: back off and try again (429, body-less 403, 5xx, timeouts).
- ``FatalMailchimpError``: stop this run and report (other 4xx).
- ``PlanRefusedError``: the safety guard said no; ``--allow-destructive`` overrides.
- ``WebhookAuthError``: a webhook call failed authentication; store nothing.
"""


class ConsentSyncError(Exception):
    """Base of every error consent-sync raises deliberately."""


class ConfigError(ConsentSyncError):
    """The configuration is invalid; the message names the key."""


class InputError(ConsentSyncError):
    """Input was rejected; nothing was written.

    ``where`` names the place (``file:line:column``, an option or a field) and ``reason`` says what is
    wrong, so the message reads ``where: reason``.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class NotFoundError(InputError):
    """The input named a record that does not exist."""


class MailchimpError(ConsentSyncError):
    """Mailchimp answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.title = title


class RetryableMailchimpError(MailchimpError):
    """Transient: 429, body-less 403, 5xx, timeouts, connection errors. Back off and retry."""


class FatalMailchimpError(MailchimpError):
    """Permanent for this request (other 4xx): stop and report, never retry."""


class PlanRefusedError(ConsentSyncError):
    """The safety guard refused a plan; ``--allow-destructive`` overrides the destructive-fraction rule."""


class WebhookAuthError(ConsentSyncError):
    """A webhook request failed its secret or signature check."""


class SyncBusyError(ConsentSyncError):
    """Another run holds the audience's lock; try again later."""


class ListMovedError(ConsentSyncError):
    """An audience's configured Mailchimp list is not the one the store synced; ``audience move`` it."""


class InboundHeldError(ConsentSyncError):
    """A reconcile held back what Mailchimp reported (the inbound guard); ``--accept-inbound`` applies it."""


class MissingExtraError(ConsentSyncError):
    """A feature needs an optional dependency that is not installed; the message names the extra."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        super().__init__(f"{feature} needs {module}: pip install 'consent-sync[{extra}]'")
        self.extra = extra
