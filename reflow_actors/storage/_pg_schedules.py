"""PostgreSQL operations on ``workflow_schedules``."""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

from typing import Any

from psycopg import Connection

from reflow_actors.records import WorkflowSchedule
from reflow_actors.schedule import next_occurrence
from reflow_actors.storage._pg_sql import Sql
from reflow_actors.storage._sqlite_rows import schedule_from_row

__all__ = ["claim_due", "delete", "list_all", "upsert"]

Conn = Connection[Any]


def upsert(
    connection: Conn,
    sql: Sql,
    schedule: WorkflowSchedule,
    recurrence: tuple[int | None, str | None],
    encoded_input: str,
    *,
    now: int,
) -> WorkflowSchedule:
    """Insert or update by key; an update keeps ``created_at`` (and a same-cadence next run)."""
    interval_ms, cron = recurrence
    params = (
        schedule.key,
        schedule.workflow,
        encoded_input,
        interval_ms,
        cron,
        schedule.next_run_at,
        schedule.created_at or now,
        now,
    )
    stored = connection.execute(sql.upsert_schedule, params).fetchone()
    assert stored is not None  # an upsert always returns its row
    return schedule_from_row(stored)


def claim_due(
    connection: Conn, sql: Sql, names: list[str], now: int, stamp: int
) -> WorkflowSchedule | None:
    """Advance the earliest schedule due at ``now`` (ties by key); return it as it was.

    The row is locked while it advances (other engines skip to the next due
    schedule), and the advance is conditioned on the ``next_run_at`` read, so
    an occurrence fires once however many engines race for it.
    """
    with connection.transaction():
        row = connection.execute(sql.pick_due_schedule, (now, names)).fetchone()
        if row is None:
            return None
        key, due, interval_ms, cron = row[0], row[5], row[3], row[4]
        following = next_occurrence(due, now, every_ms=interval_ms, cron=cron)
        advanced = connection.execute(sql.advance_schedule, (following, stamp, key, due))
        return schedule_from_row(row) if advanced.rowcount > 0 else None


def delete(connection: Conn, sql: Sql, key: str) -> bool:
    """Remove a schedule; ``True`` if there was one."""
    return connection.execute(sql.delete_schedule, (key,)).rowcount > 0


def list_all(connection: Conn, sql: Sql) -> list[WorkflowSchedule]:
    """Every schedule, ordered by key."""
    return [schedule_from_row(row) for row in connection.execute(sql.list_schedules).fetchall()]
