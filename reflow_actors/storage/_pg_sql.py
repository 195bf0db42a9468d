"""Every SQL statement ``PostgresStorage`` runs, rendered once per schema.

The statements are constant text with one placeholder, ``{s}``, for the quoted
schema name (checked against a strict pattern before it gets here), so each is
one stable string per adapter that psycopg prepares server-side after a few
uses. Every value is bound as a parameter.

Columns are selected in the order of :mod:`._sqlite_rows`, whose row mappers
both SQL adapters share. Text columns that identify or order things are
``COLLATE "C"``: byte order, which for UTF-8 is code-point order, the order
``MemoryStorage`` and SQLite use, whatever the database's locale.
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

# ruff: noqa: S608 - every statement splices only the constant column lists and the
# "{s}" schema placeholder (a checked identifier) into constant text; values are bound.
from __future__ import annotations

import re
from dataclasses import dataclass, fields

from reflow_actors.errors import ConfigError
from reflow_actors.storage._sqlite_rows import RUN_COLUMNS, SCHEDULE_COLUMNS, STEP_COLUMNS

__all__ = ["Sql", "channel_for", "check_schema", "render"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")

_RUN = "{s}.workflow_runs"
_STEP = "{s}.workflow_steps"


def check_schema(schema: object) -> str:
    """``schema`` if it is a plain lower-case identifier of at most 40 characters."""
    if not isinstance(schema, str) or _SCHEMA_NAME.fullmatch(schema) is None:
        raise ConfigError(
            "schema must be a lower-case SQL identifier (letters, digits, '_'; "
            f"at most 40 characters, not starting with a digit); got {schema!r}"
        )
    return schema


def channel_for(schema: str) -> str:
    """The ``LISTEN``/``NOTIFY`` channel of a schema: engines on it share work."""
    return f"{schema}_wakeup"


@dataclass(frozen=True)
class Sql:
    """The adapter's statements for one schema (see the module docstring)."""

    # -- runs --------------------------------------------------------------------------
    get_run: str = f"SELECT {RUN_COLUMNS} FROM {_RUN} WHERE id = %s"
    get_keyed: str = (
        f"SELECT {RUN_COLUMNS} FROM {_RUN} WHERE workflow = %s AND idempotency_key = %s"
    )
    # ON CONFLICT DO NOTHING covers the primary key and the idempotency index;
    # the caller tells which one from whether the key now finds a run.
    insert_run: str = (
        f"INSERT INTO {_RUN} (id, workflow, input, idempotency_key, lease_id, status, wake_at, "
        "created_at, updated_at) VALUES (%s, %s, %s, %s, NULL, %s, NULL, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    # One query per eligibility group, each walking its own partial index in
    # claim order; rows another claimer holds are skipped, not waited for.
    pick_pending: str = (
        f"SELECT {RUN_COLUMNS} FROM {_RUN} WHERE status = 'pending' AND workflow = ANY(%s) "
        "ORDER BY created_at, seq LIMIT %s FOR UPDATE SKIP LOCKED"
    )
    pick_due: str = (
        f"SELECT {RUN_COLUMNS} FROM {_RUN} WHERE status IN ('sleeping', 'waiting') "
        "AND wake_at <= %s AND workflow = ANY(%s) "
        "ORDER BY created_at, seq LIMIT %s FOR UPDATE SKIP LOCKED"
    )
    pick_stale: str = (
        f"SELECT {RUN_COLUMNS} FROM {_RUN} WHERE status = 'running' AND updated_at <= %s "
        "AND workflow = ANY(%s) ORDER BY created_at, seq LIMIT %s FOR UPDATE SKIP LOCKED"
    )
    claim: str = (
        f"UPDATE {_RUN} AS r SET status = 'running', lease_id = c.lease_id, wake_at = NULL, "
        "updated_at = %s FROM unnest(%s::text[], %s::text[]) AS c(id, lease_id) WHERE r.id = c.id"
    )
    # Locks the run's row for the rest of the transaction if, and only if, the
    # lease is held: a concurrent claim skips it, a concurrent release waits.
    lock_held: str = (
        f"SELECT id FROM {_RUN} WHERE id = %s AND status = 'running' AND lease_id = %s "
        "FOR NO KEY UPDATE"
    )
    lock_run: str = f"SELECT status FROM {_RUN} WHERE id = %s FOR NO KEY UPDATE"
    heartbeat: str = (
        f"UPDATE {_RUN} SET updated_at = %s WHERE id = %s AND status = 'running' AND lease_id = %s"
    )
    set_status: str = (
        f"UPDATE {_RUN} SET status = %s, lease_id = NULL, wake_at = NULL, updated_at = %s "
        "WHERE id = %s"
    )
    set_claimed_status: str = (
        f"UPDATE {_RUN} SET status = %s, lease_id = %s, wake_at = NULL, updated_at = %s "
        "WHERE id = %s AND status = 'running' AND lease_id = %s"
    )
    cancel: str = (
        f"UPDATE {_RUN} SET status = 'cancelled', lease_id = NULL, wake_at = NULL, "
        "updated_at = %s WHERE id = %s AND status IN ('pending', 'running', 'sleeping', 'waiting')"
    )
    requeue: str = (
        f"UPDATE {_RUN} SET status = 'pending', lease_id = NULL, wake_at = NULL, "
        "updated_at = %s WHERE id = %s AND status IN ('failed', 'cancelled')"
    )
    drop_failed_steps: str = f"DELETE FROM {_STEP} WHERE run_id = %s AND status = 'failed'"
    sleep: str = (
        f"UPDATE {_RUN} SET status = 'sleeping', lease_id = NULL, wake_at = %s, updated_at = %s "
        "WHERE id = %s AND status = 'running' AND lease_id = %s"
    )
    suspend: str = (
        f"UPDATE {_RUN} SET status = %s, lease_id = NULL, wake_at = %s, updated_at = %s "
        "WHERE id = %s"
    )
    wake_waiting: str = (
        f"UPDATE {_RUN} SET status = 'pending', lease_id = NULL, wake_at = NULL, "
        "updated_at = %s WHERE id = %s AND status = 'waiting'"
    )

    # -- step rows ---------------------------------------------------------------------
    steps_of: str = f"SELECT {STEP_COLUMNS} FROM {_STEP} WHERE run_id = %s ORDER BY created_at, seq"
    steps_of_many: str = (
        f"SELECT {STEP_COLUMNS} FROM {_STEP} WHERE run_id = ANY(%s) "
        "ORDER BY run_id, created_at, seq"
    )
    # DO UPDATE leaves the row in place: its id, created_at and seq (the
    # tie-break of the creation order) stay what the first write made them.
    upsert_step: str = (
        f"INSERT INTO {_STEP} (id, run_id, name, status, output, error, attempts, created_at, "
        "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (run_id, name) DO UPDATE SET status = excluded.status, "
        "output = excluded.output, error = excluded.error, attempts = excluded.attempts, "
        "updated_at = excluded.updated_at"
    )
    # A fenced save (save_progress, and save_step_result with a lease) as ONE
    # statement, so it costs one round trip and no explicit transaction:
    # ``held`` locks the run's row only if the lease is held (waiting out a
    # concurrent claim or release, then re-checking the condition on the row
    # it left); ``moved`` sets the new status, if one is given, on that row;
    # ``saved`` upserts the rows (given as parallel arrays, in order) only if
    # ``held`` found the run. The result is 1 when the lease was held, else 0.
    save_fenced: str = (
        f"WITH held AS (SELECT id FROM {_RUN} WHERE id = %(run_id)s AND status = 'running' "
        "AND lease_id = %(lease_id)s FOR NO KEY UPDATE), "
        f"moved AS (UPDATE {_RUN} SET status = %(status)s::text, lease_id = %(kept)s::text, "
        "wake_at = NULL, updated_at = %(now)s::bigint "
        "WHERE id = (SELECT id FROM held) AND %(status)s::text IS NOT NULL), "
        f"saved AS (INSERT INTO {_STEP} (id, run_id, name, status, output, error, attempts, "
        "created_at, updated_at) SELECT w.id, held.id, w.name, w.status, w.output, w.error, "
        "w.attempts, w.created_at, %(now)s::bigint FROM held, unnest(%(ids)s::text[], "
        "%(names)s::text[], %(statuses)s::text[], %(outputs)s::text[], %(errors)s::text[], "
        "%(attempts)s::integer[], %(created)s::bigint[]) WITH ORDINALITY "
        "AS w(id, name, status, output, error, attempts, created_at, position) "
        "ORDER BY w.position ON CONFLICT (run_id, name) DO UPDATE SET status = excluded.status, "
        "output = excluded.output, error = excluded.error, attempts = excluded.attempts, "
        "updated_at = excluded.updated_at) "
        "SELECT count(*) FROM held"
    )

    # -- events ------------------------------------------------------------------------
    insert_event: str = (
        "INSERT INTO {s}.workflow_events (run_id, event_name, payload, created_at) "
        "VALUES (%s, %s, %s, %s)"
    )
    has_event: str = (
        "SELECT EXISTS (SELECT 1 FROM {s}.workflow_events WHERE run_id = %s AND event_name = %s)"
    )
    # Concurrent takers each get a different event (or none): locked ones are skipped.
    take_event: str = (
        "DELETE FROM {s}.workflow_events WHERE id = (SELECT id FROM {s}.workflow_events "
        "WHERE run_id = %s AND event_name = %s ORDER BY created_at, id LIMIT 1 "
        "FOR UPDATE SKIP LOCKED) RETURNING payload"
    )

    # -- schedules ---------------------------------------------------------------------
    upsert_schedule: str = (
        "INSERT INTO {s}.workflow_schedules AS old (key, workflow, input, interval_ms, cron, "
        "next_run_at, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (key) DO UPDATE SET workflow = excluded.workflow, input = excluded.input, "
        "interval_ms = excluded.interval_ms, cron = excluded.cron, next_run_at = CASE "
        "WHEN old.interval_ms IS NOT DISTINCT FROM excluded.interval_ms "
        "AND old.cron IS NOT DISTINCT FROM excluded.cron THEN old.next_run_at "
        "ELSE excluded.next_run_at END, updated_at = excluded.updated_at "
        f"RETURNING {SCHEDULE_COLUMNS}"
    )
    pick_due_schedule: str = (
        f"SELECT {SCHEDULE_COLUMNS} FROM {{s}}.workflow_schedules WHERE next_run_at <= %s "
        "AND workflow = ANY(%s) ORDER BY next_run_at, key LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    advance_schedule: str = (
        "UPDATE {s}.workflow_schedules SET next_run_at = %s, updated_at = %s "
        "WHERE key = %s AND next_run_at = %s"
    )
    delete_schedule: str = "DELETE FROM {s}.workflow_schedules WHERE key = %s"
    list_schedules: str = f"SELECT {SCHEDULE_COLUMNS} FROM {{s}}.workflow_schedules ORDER BY key"

    # -- copy_storage: rows restored exactly as the source has them ----------------------
    restore_run: str = (
        f"INSERT INTO {_RUN} (id, workflow, input, idempotency_key, lease_id, status, wake_at, "
        "created_at, updated_at) VALUES (%s, %s, %s, %s, NULL, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    restore_step: str = (
        f"INSERT INTO {_STEP} (id, run_id, name, status, output, error, attempts, created_at, "
        "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    restore_event: str = (
        "INSERT INTO {s}.workflow_events (run_id, event_name, payload, created_at) "
        "VALUES (%s, %s, %s, %s)"
    )
    restore_schedule: str = (
        "INSERT INTO {s}.workflow_schedules (key, workflow, input, interval_ms, cron, "
        "next_run_at, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (key) DO NOTHING"
    )

    schema: str = ""


def render(schema: str) -> Sql:
    """Every statement with ``{s}`` replaced by the quoted ``schema``."""
    quoted = f'"{check_schema(schema)}"'
    values = {
        field.name: getattr(Sql, field.name).replace("{s}", quoted)
        for field in fields(Sql)
        if field.name != "schema"
    }
    return Sql(**values, schema=schema)
