"""Relationship imports name the item (an ``item``, ``event`` or ``product`` column) notices target."""

from pathlib import Path

import pytest
from sqlalchemy import select

from connector.imports.service import ImportRequest, run_import
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.tables import RelationshipRow


def _import(ctx: AppContext, path: Path) -> None:
    run_import(ctx, ImportRequest(paths=[path], apply=True))


@pytest.mark.parametrize("column", ["Item", "Event", "Product", "Arrangement"])
def test_the_item_column_is_stored_and_a_change_of_item_updates_the_relationship(
    ctx: AppContext, tmp_path: Path, column: str
) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        f"E-post;Ordrenummer;Kjøpt;Levert;{column}\nola@example.no;T-1;01.11.2026;20.12.2026;CONCERT-99\n"
    )
    _import(ctx, path)
    path.write_text(
        f"E-post;Ordrenummer;Kjøpt;Levert;{column}\nola@example.no;T-1;01.11.2026;20.12.2026;CONCERT-77\n"
    )
    _import(ctx, path)

    with unit_of_work(ctx.engine) as session:
        rows = session.execute(select(RelationshipRow.reference, RelationshipRow.item)).all()
    assert rows == [("T-1", "CONCERT-77")]
