"""Migration 0007 on a store with data: mirror rows move to the list id their audience recorded."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connector.store.migrate import upgrade
from tests.conftest import POSTGRES_VARIABLE, _postgres_url
from tests.postgres import reset_postgres

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).isoformat()
_MIRROR = (
    "INSERT INTO mirror_members (audience, subscriber_hash, contact_id, email, status, merge_fields, tags, "
    "managed, forgotten, confirmed_at) VALUES (:audience, :hash, NULL, :email, 'subscribed', '{}', "
    "'[\"cs:newsletter\"]', true, false, :at)"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    url = _postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_VARIABLE}")
    reset_postgres(url)
    return url


def test_upgrade_from_0006_keys_the_mirror_by_list(empty_url: str) -> None:
    upgrade(empty_url, "0006")
    engine = create_engine(empty_url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audience_state (audience, list_id, segment_ids) VALUES ('main', 'L1', '{}')")
        )
        connection.execute(text("INSERT INTO audience_state (audience, segment_ids) VALUES ('side', '{}')"))
        for audience, key in (("main", "a" * 32), ("main", "b" * 32), ("side", "a" * 32)):
            connection.execute(
                text(_MIRROR), {"audience": audience, "hash": key, "email": "x@y.no", "at": AT}
            )
    engine.dispose()

    upgrade(empty_url)

    engine = create_engine(empty_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT list_id, audience, subscriber_hash FROM mirror_members "
                "ORDER BY audience, subscriber_hash"
            )
        ).all()
        state = connection.execute(
            text("SELECT list_id, dc, inbound_hold FROM audience_state ORDER BY audience")
        ).all()
        moves = connection.execute(text("SELECT count(*) FROM audience_moves")).scalar_one()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("L1", "main", "a" * 32),
        ("L1", "main", "b" * 32),
        ("unbound:side", "side", "a" * 32),
    ]
    assert [tuple(s) for s in state] == [("L1", None, None), (None, None, None)]
    assert moves == 0


def test_the_same_member_may_be_in_two_lists_after_the_upgrade(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_engine(empty_url)
    insert = text(
        "INSERT INTO mirror_members (list_id, audience, subscriber_hash, email, status, merge_fields, tags, "
        "managed, forgotten, confirmed_at) VALUES (:list, 'main', :hash, '', 'subscribed', '{}', '[]', "
        "false, false, :at)"
    )
    with engine.begin() as connection:
        for list_id in ("OLD", "NEW"):
            connection.execute(insert, {"list": list_id, "hash": "c" * 32, "at": AT})
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM mirror_members")).scalar_one() == 2
    engine.dispose()
