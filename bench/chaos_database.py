"""The chaos run's database: a private PostgreSQL cluster on a free loopback port, or SQLite.

The shared server on 127.0.0.1:5432 is never touched: ``initdb`` makes a cluster in a temporary directory
(owned by ``postgres`` when we run as root), ``pg_ctl`` starts, restarts and stops it. Without PostgreSQL
binaries the run falls back to SQLite and says so; the server-restart fault is then skipped.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

DATABASE = "chaos"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb`` and ``pg_ctl``, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


@dataclass
class PrivateCluster:
    """One PostgreSQL cluster of our own: data in ``root``, listening on 127.0.0.1:``port``."""

    binaries: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        data, log = str(self.root / "data"), str(self.root / "server.log")
        self._run(str(self.binaries / "pg_ctl"), action, "-D", data, "-l", log, "-o", options, "-w", *extra)

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """A fast shutdown (every session cut) and a new start, as a server restart in production."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True)

    def create_database(self) -> None:
        with self.admin() as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")

    def terminate_connections(self) -> int:
        """``pg_terminate_backend`` of every session on the chaos database: a connection loss."""
        query = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        with self.admin() as connection:
            row = connection.execute(query, (DATABASE,)).fetchone()
        return int(row[0]) if row else 0


def start_private_cluster() -> PrivateCluster | None:
    """A running private cluster with an empty ``chaos`` database, or ``None`` without binaries."""
    binaries = postgres_binaries()
    if binaries is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(binaries, root, free_port())
    data = str(root / "data")
    cluster._run(str(binaries / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
    cluster.start()
    cluster.create_database()
    return cluster


def remove_cluster(cluster: PrivateCluster) -> None:
    try:
        cluster.stop()
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
