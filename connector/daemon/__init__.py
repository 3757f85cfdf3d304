"""The daemon: scheduled syncs and reconciliations, coordinated between replicas (docs/architecture.md).

Every replica polls ``sync_requests`` and syncs the audiences it can lock (one lock per audience), so
different audiences sync in parallel on different replicas. One replica, the leader, also owns the
schedule: it asks for a sync of every audience each ``schedule.sync_interval_seconds``, reconciles, and
keeps house. Leadership is a PostgreSQL advisory lock (or a file lock next to a SQLite database) held
for the life of the process, so a leader that dies is replaced within ``schedule.leader_retry_seconds``.
"""
