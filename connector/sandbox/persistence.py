"""``--state FILE``: the whole sandbox state as one snapshot row in a SQLite file."""

import pickle
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from connector.sandbox.state import StateData

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB, saved_at TEXT)"
)


class SnapshotStore:
    """Saves and loads :class:`StateData`. The file is the sandbox's own, written only by it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as connection:
            connection.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def save(self, data: StateData) -> None:
        blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        with self._connect() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO snapshot (id, data, saved_at) VALUES (1, ?, ?)",
                (blob, datetime.now(UTC).isoformat()),
            )
        connection.close()

    def load(self) -> StateData | None:
        with self._connect() as connection:
            row = connection.execute("SELECT data FROM snapshot WHERE id = 1").fetchone()
        connection.close()
        if row is None:
            return None
        data = pickle.loads(row[0])  # noqa: S301 - the sandbox's own state file, not untrusted input
        if not isinstance(data, StateData):
            return None
        if not hasattr(data, "campaigns"):  # a snapshot from before the sandbox kept campaigns
            data.campaigns = {}
        return data
