"""The PostgreSQL schema and its migrations, versioned in a ``reflow_schema`` table.

Everything lives in one schema of the adapter's choosing (``reflow`` by
default), so several independent deployments can share a database.
:func:`migrate` runs in one transaction under a transaction-level advisory
lock derived from the schema name: processes initializing at once queue on the
lock, the first migrates, the others find the current version and do nothing.
PostgreSQL's DDL is transactional, so a failed migration leaves nothing behind.

Values (input, outputs, payloads) are stored as ``text`` holding the codec's
JSON exactly as written. ``jsonb`` would reorder object keys and refuse the
NUL character in strings; we never query inside values, so the exact text is
both simplest and faithful (the codec's tagged datetimes come back byte for byte).

A trigger on ``workflow_runs`` sends ``NOTIFY <schema>_wakeup`` whenever a row
is inserted or updated into ``pending`` (an enqueue, a delivered event waking a
waiting run, a requeue): listeners on every machine learn there is work the
moment that transaction commits.
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from psycopg import Connection

from reflow_actors.errors import StorageError
from reflow_actors.storage._pg_sql import channel_for, check_schema

__all__ = ["SCHEMA_VERSION", "migrate", "schema_lock_key"]

_VERSION_1 = """
CREATE TABLE {s}.workflow_runs (
  id               text COLLATE "C" PRIMARY KEY,
  seq              bigint GENERATED ALWAYS AS IDENTITY,
  workflow         text COLLATE "C" NOT NULL,
  input            text NOT NULL,
  idempotency_key  text COLLATE "C",
  lease_id         text COLLATE "C",
  status           text COLLATE "C" NOT NULL,
  wake_at          bigint,
  created_at       bigint NOT NULL,
  updated_at       bigint NOT NULL
);
CREATE UNIQUE INDEX runs_idempotency ON {s}.workflow_runs (workflow, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_pending ON {s}.workflow_runs (created_at, seq) WHERE status = 'pending';
CREATE INDEX runs_due ON {s}.workflow_runs (wake_at) WHERE status IN ('sleeping', 'waiting');
CREATE INDEX runs_stale ON {s}.workflow_runs (updated_at) WHERE status = 'running';
CREATE INDEX runs_created ON {s}.workflow_runs (created_at, id);
CREATE INDEX runs_status_created ON {s}.workflow_runs (status, created_at, id);
CREATE INDEX runs_workflow_created ON {s}.workflow_runs (workflow, created_at, id);

CREATE TABLE {s}.workflow_steps (
  id          text COLLATE "C" PRIMARY KEY,
  seq         bigint GENERATED ALWAYS AS IDENTITY,
  run_id      text COLLATE "C" NOT NULL,
  name        text COLLATE "C" NOT NULL,
  status      text COLLATE "C" NOT NULL,
  output      text,
  error       text,
  attempts    integer NOT NULL DEFAULT 0,
  created_at  bigint NOT NULL,
  updated_at  bigint NOT NULL,
  CONSTRAINT steps_run_name UNIQUE (run_id, name)
);

CREATE TABLE {s}.workflow_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      text COLLATE "C" NOT NULL,
  event_name  text COLLATE "C" NOT NULL,
  payload     text,
  created_at  bigint NOT NULL
);
CREATE INDEX events_run_name ON {s}.workflow_events (run_id, event_name, created_at, id);

CREATE TABLE {s}.workflow_schedules (
  key          text COLLATE "C" PRIMARY KEY,
  workflow     text COLLATE "C" NOT NULL,
  input        text NOT NULL,
  interval_ms  bigint,
  cron         text,
  next_run_at  bigint NOT NULL,
  created_at   bigint NOT NULL,
  updated_at   bigint NOT NULL,
  CONSTRAINT schedules_one_recurrence CHECK ((interval_ms IS NULL) <> (cron IS NULL))
);
CREATE INDEX schedules_due ON {s}.workflow_schedules (next_run_at, key);

CREATE FUNCTION {s}.notify_wakeup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END
$$;
CREATE TRIGGER runs_wakeup AFTER INSERT OR UPDATE OF status ON {s}.workflow_runs
  FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION {s}.notify_wakeup('{channel}');
"""

Migration = Callable[[Connection[Any], str, str], None]


def _to_version_1(connection: Connection[Any], quoted: str, channel: str) -> None:
    connection.execute(_VERSION_1.replace("{s}", quoted).replace("{channel}", channel))


_MIGRATIONS: list[Migration] = [_to_version_1]
SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this code writes; migration ``n`` brings version ``n`` to ``n + 1``."""


def schema_lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) that serializes migrations of ``schema``."""
    digest = hashlib.sha256(b"reflow-actors schema " + schema.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _version(connection: Connection[Any], quoted: str) -> int:
    found = connection.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f"{quoted}.reflow_schema",)
    ).fetchone()
    if found is None or not found[0]:
        return 0
    row = connection.execute(f"SELECT version FROM {quoted}.reflow_schema").fetchone()  # noqa: S608 - quoted is a checked identifier
    return 0 if row is None else int(row[0])


def migrate(connection: Connection[Any], schema: str) -> int:
    """Create or upgrade ``schema`` to :data:`SCHEMA_VERSION`; return the version found.

    ``connection`` must be in autocommit mode: this opens its own transaction.
    A schema newer than this code is refused before anything is changed.
    """
    quoted = f'"{check_schema(schema)}"'
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (schema_lock_key(schema),))
        exists = connection.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,)
        ).fetchone()
        if exists is None or not exists[0]:
            connection.execute(f"CREATE SCHEMA {quoted}")
        version = _version(connection, quoted)
        if version > SCHEMA_VERSION:
            raise StorageError(
                "initialize",
                f"schema {schema!r} is at version {version}, newer than the {SCHEMA_VERSION} "
                "this reflow-actors knows; upgrade reflow-actors to use it",
            )
        if version == SCHEMA_VERSION:
            return version
        for migration in _MIGRATIONS[version:]:
            migration(connection, quoted, channel_for(schema))
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {quoted}.reflow_schema ("
            "singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), "
            "version integer NOT NULL)"
        )
        connection.execute(
            f"INSERT INTO {quoted}.reflow_schema (version) VALUES (%s) "  # noqa: S608 - quoted is a checked identifier
            "ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
            (SCHEMA_VERSION,),
        )
    return version
