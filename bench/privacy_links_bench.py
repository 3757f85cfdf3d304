"""What the privacy-page link costs a sync: issuing ``PREFS_URL`` for N contacts (pure CPU, no I/O).

    .venv/bin/python bench/privacy_links_bench.py [--contacts 200000]

Prints microseconds per link for the sync's link maker and for itsdangerous' ``dumps`` (figures, never
assertions); a full sync of a million members pays the first figure a million times.
"""

import argparse
import time
import uuid
from datetime import UTC, datetime

from pydantic import SecretStr

from connector.services.preference_links import issue_token, link_maker
from connector.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200_000)
    args = parser.parse_args()
    base = load_settings(None)
    security = base.security.model_copy(update={"preferences_key": SecretStr("bench-key-" + "x" * 32)})
    settings = base.model_copy(update={"security": security})
    ids = [str(uuid.uuid4()) for _ in range(args.contacts)]
    now = datetime.now(UTC)
    maker = link_maker(settings, now)
    started = time.perf_counter()
    for contact_id in ids:
        maker(contact_id)
    fast = (time.perf_counter() - started) / len(ids) * 1e6
    sample = ids[: max(1, len(ids) // 10)]
    started = time.perf_counter()
    for contact_id in sample:
        issue_token(settings, contact_id, now)
    plain = (time.perf_counter() - started) / len(sample) * 1e6
    print(f"{len(ids)} links: sync link maker {fast:.1f} µs/link; itsdangerous dumps {plain:.1f} µs/link")


if __name__ == "__main__":
    main()
