"""The sandbox's knobs: latency, the connection limit, injected faults, webhook timing, persistence."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SandboxKnobs:
    """Everything that changes how the sandbox behaves; ``consent-sync sandbox --help`` documents each.

    Fault rates are probabilities per API call, drawn in this order from one generator seeded with
    ``seed`` (``None``: a random seed, printed at start): 429, body-less 403, 5xx, slow, dropped.
    """

    latency_ms: float = 0.0
    """Added to every ``/3.0`` call."""
    latency_per_member_ms: float = 0.0
    """Added per member (or operation) to batch calls: batch subscribe, segment bulk edits, ``/batches``."""
    max_connections: int = 10
    """Requests in flight beyond this answer 429 Too Many Requests (Mailchimp: 10 per user)."""
    fault_rate_429: float = 0.0
    fault_rate_403: float = 0.0
    """Body-less 403, as Mailchimp's edge sends under load."""
    fault_rate_5xx: float = 0.0
    fault_rate_slow: float = 0.0
    slow_ms: float = 2000.0
    """Extra delay of a call picked as slow."""
    fault_rate_drop: float = 0.0
    """Calls whose connection is closed without any response."""
    seed: int | None = None
    webhook_time_scale: float = 1.0
    """Multiplies webhook retry delays (Mailchimp retries over ~75 minutes; 0.001 makes that ~4.5 s)."""
    webhook_max_attempts: int = 7
    webhook_timeout_s: float = 10.0
    signing_secret: str | None = None
    """When set, every webhook is signed with it (``X-Mailchimp-Signature``)."""
    allow_remote_webhooks: bool = False
    """Allow webhook URLs that are not loopback or private addresses."""
    state_file: Path | None = None
    """SQLite file holding the state across restarts; ``None`` keeps it in memory."""
    dc: str = "us1"
    """Data centre: API keys must end in ``-<dc>``."""
    api_keys: tuple[str, ...] = ()
    """When not empty, the only keys accepted; any other gets 401 API Key Invalid, like a revoked key."""
    transactional_keys: tuple[str, ...] = ()
    """When not empty, the only Transactional (``/api/1.0``) keys accepted; others answer Invalid_Key.
    Empty: any non-empty key."""
    log_bodies: bool = False
    """Keep request and response bodies in the request log (contract tests read them)."""
    request_log_size: int = 10_000
    batch_result_ttl_s: float = 600.0
    """How long a ``response_body_url`` stays valid (Mailchimp: 10 minutes)."""
