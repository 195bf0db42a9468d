"""The SQLite schema and its migrations, versioned by ``PRAGMA user_version``.

The tables keep reflow-ts's names and columns, so a reflow-ts database opens
and migrates in place. Version 0 is "no reflow-actors schema yet": either an
empty file or a reflow-ts database, which has the tables but no user_version.

:func:`migrate` runs inside the caller's ``BEGIN IMMEDIATE`` transaction and
reads the version there, so two processes initializing at once migrate once.
"""

from __future__ import annotations

from collections.abc import Callable

import apsw

from reflow_actors.errors import StorageError
from reflow_actors.storage._sqlite_rows import Row

__all__ = ["SCHEMA_VERSION", "migrate"]

_TABLES = """
CREATE TABLE IF NOT EXISTS workflow_runs (
  id               TEXT PRIMARY KEY,
  workflow         TEXT NOT NULL,
  input            TEXT NOT NULL,
  idempotency_key  TEXT,
  lease_id         TEXT,
  status           TEXT NOT NULL,
  wake_at          INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workflow_steps (
  id          TEXT PRIMARY KEY,
  run_id      TEXT NOT NULL,
  name        TEXT NOT NULL,
  status      TEXT NOT NULL,
  output      TEXT,
  error       TEXT,
  attempts    INTEGER DEFAULT 0,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workflow_events (
  id          TEXT PRIMARY KEY,
  run_id      TEXT NOT NULL,
  event_name  TEXT NOT NULL,
  payload     TEXT,
  created_at  INTEGER NOT NULL
);
"""

_SCHEDULES = """
CREATE TABLE IF NOT EXISTS workflow_schedules (
  key          TEXT PRIMARY KEY,
  workflow     TEXT NOT NULL,
  input        TEXT NOT NULL,
  interval_ms  INTEGER,
  cron         TEXT,
  next_run_at  INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
"""

# reflow-ts indexes that the ones below replace; dropping them saves a write per index.
_SUPERSEDED = """
DROP INDEX IF EXISTS idx_runs_status;
DROP INDEX IF EXISTS idx_runs_wake;
DROP INDEX IF EXISTS idx_steps_run_id;
"""

# A reflow-ts database may hold two rows for one step name (it had no such
# constraint); keep the most recently written one before adding it.
_DEDUPLICATE_STEPS = """
DELETE FROM workflow_steps WHERE EXISTS (
  SELECT 1 FROM workflow_steps AS newer
   WHERE newer.run_id = workflow_steps.run_id
     AND newer.name = workflow_steps.name
     AND (newer.updated_at > workflow_steps.updated_at
          OR (newer.updated_at = workflow_steps.updated_at
              AND newer.rowid > workflow_steps.rowid))
);
"""

# The claim reads each eligibility group through its own partial index, so its
# cost follows the backlog, not the history of finished runs.
_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS idx_runs_workflow_idempotency
  ON workflow_runs(workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_runs_pending
  ON workflow_runs(workflow, created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_runs_due
  ON workflow_runs(wake_at) WHERE status IN ('sleeping', 'waiting');
CREATE INDEX IF NOT EXISTS idx_runs_stale
  ON workflow_runs(updated_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS idx_runs_created ON workflow_runs(created_at, id);
CREATE INDEX IF NOT EXISTS idx_runs_status_created ON workflow_runs(status, created_at, id);
CREATE INDEX IF NOT EXISTS idx_runs_workflow_created ON workflow_runs(workflow, created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_steps_run_name ON workflow_steps(run_id, name);
CREATE INDEX IF NOT EXISTS idx_events_run_name
  ON workflow_events(run_id, event_name, created_at);
CREATE INDEX IF NOT EXISTS idx_schedules_due ON workflow_schedules(next_run_at);
"""


def _columns(connection: apsw.Connection, table: str) -> set[str]:
    # PRAGMA arguments cannot be bound; ``table`` is one of our constant names.
    return {str(row[1]) for row in connection.execute(f"PRAGMA table_info({table})")}


def _to_version_1(connection: apsw.Connection) -> None:
    """Create the schema, or bring a reflow-ts (0.6 or 0.7) database up to it."""
    connection.execute(_TABLES)
    if "wake_at" not in _columns(connection, "workflow_runs"):
        connection.execute("ALTER TABLE workflow_runs ADD COLUMN wake_at INTEGER")
    schedule_columns = _columns(connection, "workflow_schedules")
    if schedule_columns and "cron" not in schedule_columns:
        # reflow-ts 0.6 had ``interval_ms NOT NULL`` and no ``cron``: rebuild the table.
        connection.execute("ALTER TABLE workflow_schedules RENAME TO workflow_schedules_old")
        connection.execute(_SCHEDULES)
        connection.execute(
            "INSERT INTO workflow_schedules (key, workflow, input, interval_ms, cron, "
            "next_run_at, created_at, updated_at) SELECT key, workflow, input, interval_ms, "
            "NULL, next_run_at, created_at, updated_at FROM workflow_schedules_old"
        )
        connection.execute("DROP TABLE workflow_schedules_old")
    connection.execute(_SCHEDULES)
    connection.execute(_SUPERSEDED)
    connection.execute(_DEDUPLICATE_STEPS)
    connection.execute(_INDEXES)


_MIGRATIONS: list[Callable[[apsw.Connection], None]] = [_to_version_1]
SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this code writes; migration ``n`` brings version ``n`` to ``n + 1``."""


def migrate(connection: apsw.Connection) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`; call inside a write transaction.

    A database newer than this code is refused before anything is changed.
    """
    found: list[Row] = connection.execute("PRAGMA user_version").fetchall()
    version = int(found[0][0])
    if version > SCHEMA_VERSION:
        raise StorageError(
            "initialize",
            f"the database schema version is {version}, newer than the {SCHEMA_VERSION} "
            "this reflow-actors knows; upgrade reflow-actors to open it",
        )
    for migration in _MIGRATIONS[version:]:
        migration(connection)
    if version < SCHEMA_VERSION:
        # PRAGMA takes no bindings; SCHEMA_VERSION is our own integer.
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
