"""The console's overview of an audience of 1,000,000 contacts, on PostgreSQL: how long it takes to render.

    .venv/bin/python bench/console_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/console_bench.py --contacts 100000 --repeat 5

The database's ``public`` schema is dropped and migrated afresh, then seeded set-based (``generate_series``):
the contacts, their Mailchimp mirror (subscribed, transactional, unsubscribed; tags per marketing purpose),
30 finished sync runs with their member counts, a day of webhook inbox rows and a campaign check. It then
signs in to ``/console`` in-process and times ``GET /console`` (``--repeat`` times; the target is under
500 ms), and separately the server-side work alone: the aggregate queries (``overview()``) and the page.
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from connector.api.app import create_app
from connector.console.overview import overview
from connector.console.users import add_user
from connector.services.context import AppContext
from connector.settings import load_settings
from connector.store.engine import make_engine
from connector.store.migrate import upgrade

LIST_ID = "bench00001"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway user of the bench database


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed(url: str, contacts: int) -> None:
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")
    upgrade(url)
    started = time.perf_counter()
    with psycopg.connect(_plain(url), autocommit=True) as connection:
        connection.execute(
            """INSERT INTO contacts (id, email, external_id, processing_restricted, created_at, updated_at,
                   changed_at)
               SELECT 'c-' || i, 'person' || i || '@example.no', 'k' || i, false,
                      %(now)s - interval '400 days', %(now)s - interval '2 days',
                      %(now)s - (i %% 1000) * interval '1 hour'
               FROM generate_series(1, %(n)s) AS i""",
            {"now": NOW, "n": contacts},
        )
        connection.execute(
            """INSERT INTO mirror_members (list_id, subscriber_hash, audience, contact_id, email, status,
                   merge_fields, tags, interests, last_changed, managed, forgotten, confirmed_at)
               SELECT %(list)s, md5('person' || i || '@example.no'), 'main', 'c-' || i,
                      'person' || i || '@example.no',
                      CASE WHEN i %% 10 < 6 THEN 'subscribed' WHEN i %% 10 < 9 THEN 'transactional'
                           ELSE 'unsubscribed' END,
                      '{}', CASE i %% 4 WHEN 0 THEN '["cs:newsletter", "cs:offers", "cs:transactional"]'
                                     WHEN 1 THEN '["cs:newsletter", "cs:transactional"]'
                                     WHEN 2 THEN '["cs:offers", "cs:transactional"]'
                                     ELSE '["cs:transactional"]' END::json,
                      '{}', %(now)s, true, false, %(now)s
               FROM generate_series(1, %(n)s) AS i""",
            {"list": LIST_ID, "now": NOW, "n": contacts},
        )
        connection.execute(
            """INSERT INTO audience_state (audience, list_id, segment_ids, last_sync_at, last_reconcile_at)
               VALUES ('main', %(list)s, '{}', %(now)s - interval '5 minutes',
                       %(now)s - interval '1 hour')""",
            {"list": LIST_ID, "now": NOW},
        )
        connection.execute(
            """INSERT INTO sync_runs (id, audience, list_id, kind, status, started_at, finished_at, counts,
                   calls, report)
               SELECT 'run-' || d, 'main', %(list)s, CASE WHEN d %% 5 = 0 THEN 'reconcile' ELSE 'sync' END,
                      'done', %(now)s - d * interval '1 day', %(now)s - d * interval '1 day',
                      '{"AddTags": 12}', 3,
                      json_build_object('members', json_build_object(
                          'by_status', json_build_object('subscribed', %(n)s * 6 / 10,
                              'transactional', %(n)s * 3 / 10, 'unsubscribed', %(n)s / 10),
                          'subscribed_by_tag', json_build_object(
                              'cs:newsletter', %(n)s / 4 + d * 10, 'cs:offers', %(n)s / 5 + d * 7)))
               FROM generate_series(0, 35) AS d""",
            {"list": LIST_ID, "now": NOW, "n": contacts},
        )
        connection.execute(
            """INSERT INTO webhook_inbox (dedup_key, type, list_id, fired_at, received_at, processed, outcome,
                   body)
               SELECT md5('event' || i), 'unsubscribe', %(list)s, %(now)s - i * interval '10 seconds',
                      %(now)s - i * interval '10 seconds', i %% 50 <> 0, 'applied', 'type=unsubscribe'
               FROM generate_series(1, 8000) AS i""",
            {"list": LIST_ID, "now": NOW},
        )
        connection.execute(
            """INSERT INTO campaign_checks (audience, checked_at, campaigns, flagged, findings)
               VALUES ('main', %(now)s, 2, 1, '[{"campaign_id": "c1", "title": "Everyone", "status": "save",
                   "recipient_count": 10, "safe": false, "reason": "sends to the whole audience"}]')""",
            {"now": NOW},
        )
        connection.execute("ANALYZE")
    print(f"seeded {contacts:,} contacts and mirror members in {time.perf_counter() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test_console")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-seed", action="store_true", help="Reuse what a previous run seeded.")
    args = parser.parse_args()
    if not args.no_seed:
        seed(args.database_url, args.contacts)
    audiences = [{"name": "main", "list_id": LIST_ID, "purposes": ["newsletter", "offers"]}]
    settings = load_settings(
        None,
        database={"url": args.database_url},
        security={"suppression_key": "bench-suppression-key"},
        audiences=audiences,
        mailchimp={"api_key": "bench-us1", "base_url": "http://127.0.0.1:9/3.0"},
    )
    engine = make_engine(args.database_url)
    ctx = AppContext(settings=settings, engine=engine, suppression_key=b"bench-key", clock=lambda: NOW)
    if not args.no_seed:
        add_user(ctx, "bench", "viewer", PASSWORD)
    server: list[float] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        overview(ctx)
        server.append((time.perf_counter() - started) * 1000)
    with TestClient(create_app(ctx), base_url="http://127.0.0.1") as client:
        token = client.get("/console/login").text.split('name="csrf" value="')[1].split('"')[0]
        signed = client.post("/console/login", data={"name": "bench", "password": PASSWORD, "csrf": token})
        assert signed.status_code == 200, signed.text[:300]
        pages: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            answer = client.get("/console")
            pages.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
            assert "<svg" in answer.text
    engine.dispose()
    print(
        f"overview() aggregate queries, server side: median {statistics.median(server):.0f} ms "
        f"(min {min(server):.0f}, max {max(server):.0f}) over {args.repeat}"
    )
    print(
        f"GET /console (sign-in check, queries, page, in-process): median {statistics.median(pages):.0f} ms "
        f"(min {min(pages):.0f}, max {max(pages):.0f}) over {args.repeat}"
    )
    return 0 if statistics.median(pages) < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
