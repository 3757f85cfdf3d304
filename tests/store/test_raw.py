"""The raw cursor's value conversions read back what SQLAlchemy's column types write, on both databases."""

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text

from connector.services.context import AppContext
from connector.store.raw import Raw
from connector.store.tables import ContactRow


def test_a_moment_reads_back_as_the_column_type_reads_it(ctx: AppContext) -> None:
    moments = [
        datetime(2026, 12, 8, 0, 42, 22, 732899, tzinfo=UTC),
        datetime(2026, 12, 8, 0, 42, 22, tzinfo=UTC),  # no microseconds
        datetime(2026, 12, 8, 2, 42, tzinfo=timezone(timedelta(hours=2))),
    ]
    with ctx.engine.begin() as connection:
        for index, moment in enumerate(moments):
            connection.execute(
                ContactRow.__table__.insert(),  # type: ignore[attr-defined]
                {
                    "id": f"c{index}",
                    "email": f"p{index}@firma.no",
                    "processing_restricted": False,
                    "created_at": moment,
                    "updated_at": moment,
                    "changed_at": moment,
                    "next_review_at": None,
                },
            )
        raw = Raw(connection)
        written = connection.execute(text("SELECT id FROM contacts")).all()
        assert len(written) == 3
        raw.execute("UPDATE contacts SET updated_at = {m} WHERE id = {m}", (raw.at(moments[2]), "c2"))
        orm = dict(
            connection.execute(
                ContactRow.__table__.select().with_only_columns(  # type: ignore[attr-defined]
                    ContactRow.__table__.c.id,
                    ContactRow.__table__.c.updated_at,  # type: ignore[attr-defined]
                )
            ).all()
        )
        read = {key: raw.moment(at) for key, at in raw.rows("SELECT id, updated_at FROM contacts")}
    assert read == orm
    assert read == {f"c{i}": m.astimezone(UTC) for i, m in enumerate(moments)}
    assert all(m is not None and m.tzinfo is UTC for m in read.values())


def test_a_moment_written_by_hand_with_an_offset_reads_as_sqlalchemy_reads_it() -> None:
    raw = Raw.__new__(Raw)
    raw.sqlite = True
    assert raw.moment("2026-12-08 00:42:22.732899+00:00") == datetime(
        2026, 12, 8, 0, 42, 22, 732899, tzinfo=UTC
    )
    assert raw.moment("2026-12-08 00:42:22") == datetime(2026, 12, 8, 0, 42, 22, tzinfo=UTC)
    assert raw.moment(None) is None
