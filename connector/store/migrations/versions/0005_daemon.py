"""daemon: no tables of its own

The daemon coordinates through PostgreSQL advisory locks (or file locks next to a SQLite database), not
rows, and reads its work queue from ``sync_requests`` (revision 0004). The revision stays so that the
chain of migrations is the same everywhere.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
