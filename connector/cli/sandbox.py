"""``consent-sync sandbox``: run the local Mailchimp in the foreground."""

from pathlib import Path

import typer

from connector.cli import shell


def sandbox(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; keep 127.0.0.1 unless you must."),
    port: int = typer.Option(8800, "--port", help="Port to listen on."),
    state: Path | None = typer.Option(
        None,
        "--state",
        help="SQLite file that keeps the sandbox's state across restarts (default: memory only).",
    ),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="Latency added to every /3.0 call, in ms."),
    latency_per_member_ms: float = typer.Option(
        0.0,
        "--latency-per-member-ms",
        help="Extra latency per member or operation of batch calls"
        " (batch subscribe, tag bulk edits, /batches).",
    ),
    max_connections: int = typer.Option(
        10,
        "--max-connections",
        help="Requests in flight beyond this answer 429 Too Many Requests (Mailchimp: 10).",
    ),
    fault_rate_429: float = typer.Option(0.0, "--fault-rate-429", help="Share of calls answered 429 (0..1)."),
    fault_rate_403: float = typer.Option(
        0.0, "--fault-rate-403", help="Share of calls answered 403 with no body."
    ),
    fault_rate_5xx: float = typer.Option(0.0, "--fault-rate-5xx", help="Share of calls answered 500."),
    fault_rate_slow: float = typer.Option(
        0.0, "--fault-rate-slow", help="Share of calls delayed by --slow-ms."
    ),
    slow_ms: float = typer.Option(2000.0, "--slow-ms", help="Delay of a call picked as slow, in ms."),
    fault_rate_drop: float = typer.Option(
        0.0, "--fault-rate-drop", help="Share of calls whose connection is closed without a response."
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Seed of the fault draws; printed at start (random if omitted) so a run can be replayed.",
    ),
    webhook_time_scale: float = typer.Option(
        1.0,
        "--webhook-time-scale",
        help="Multiplier of webhook retry delays"
        " (Mailchimp retries over 75 minutes; 0.001 compresses that to 4.5 s).",
    ),
    webhook_max_attempts: int = typer.Option(
        7, "--webhook-max-attempts", help="Delivery attempts per webhook event before giving up."
    ),
    webhook_timeout_s: float = typer.Option(
        10.0, "--webhook-timeout-s", help="Timeout of one webhook delivery."
    ),
    signing_secret: str | None = typer.Option(
        None,
        "--signing-secret",
        help="Sign every webhook with this secret (X-Mailchimp-Signature: t=…,v1=…).",
    ),
    allow_remote_webhooks: bool = typer.Option(
        False, "--allow-remote-webhooks", help="Allow webhook URLs outside loopback and private networks."
    ),
    dc: str = typer.Option("us1", "--dc", help="Data centre: API keys must end in -<dc>, e.g. anything-us1."),
    api_keys: list[str] = typer.Option(
        [], "--api-keys", help="Accept only this key (repeatable); default: any key ending in -<dc>."
    ),
    transactional_keys: list[str] = typer.Option(
        [],
        "--transactional-keys",
        help="Accept only this Transactional key at /api/1.0 (repeatable); default: any non-empty key.",
    ),
    log_bodies: bool = typer.Option(
        False, "--log-bodies", help="Keep request and response bodies in GET /_sandbox/requests."
    ),
) -> None:
    """Run a local Mailchimp Marketing API v3 (the sandbox) for demos, tests and benchmarks.

    Observe it with GET /_sandbox/stats and GET /_sandbox/requests; simulate people with
    POST /_sandbox/lists/{list_id}/members/{hash}/unsubscribe|complain|bounce|confirm|change-email|tags;
    start over with POST /_sandbox/reset.
    """
    from connector.sandbox.knobs import SandboxKnobs
    from connector.sandbox.server import serve

    shell.started()

    knobs = SandboxKnobs(
        latency_ms=latency_ms,
        latency_per_member_ms=latency_per_member_ms,
        max_connections=max_connections,
        fault_rate_429=fault_rate_429,
        fault_rate_403=fault_rate_403,
        fault_rate_5xx=fault_rate_5xx,
        fault_rate_slow=fault_rate_slow,
        slow_ms=slow_ms,
        fault_rate_drop=fault_rate_drop,
        seed=seed,
        webhook_time_scale=webhook_time_scale,
        webhook_max_attempts=webhook_max_attempts,
        webhook_timeout_s=webhook_timeout_s,
        signing_secret=signing_secret,
        allow_remote_webhooks=allow_remote_webhooks,
        state_file=state,
        dc=dc,
        api_keys=tuple(api_keys),
        transactional_keys=tuple(transactional_keys),
        log_bodies=log_bodies,
    )
    serve(knobs, host, port, announce=typer.echo)
