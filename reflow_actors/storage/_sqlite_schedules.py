"""SQLite operations on ``workflow_schedules``."""

from __future__ import annotations

import apsw

from reflow_actors.records import WorkflowSchedule
from reflow_actors.schedule import next_occurrence
from reflow_actors.storage._sqlite_rows import (
    SCHEDULE_COLUMNS,
    Row,
    names_json,
    schedule_from_row,
)

__all__ = ["claim_due", "delete", "list_all", "upsert"]

# ``IS`` compares NULLs as equal: the cadence is kept only when both the interval
# and the cron expression are unchanged (a switch of kind resets it).
_UPSERT = (
    "INSERT INTO workflow_schedules (key, workflow, input, interval_ms, cron, next_run_at, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
    "workflow = excluded.workflow, input = excluded.input, interval_ms = excluded.interval_ms, "
    "cron = excluded.cron, next_run_at = CASE WHEN workflow_schedules.interval_ms IS "
    "excluded.interval_ms AND workflow_schedules.cron IS excluded.cron THEN "
    "workflow_schedules.next_run_at ELSE excluded.next_run_at END, "
    "updated_at = excluded.updated_at"
)
# S608: the f-strings only splice in constant column lists; every value is bound.
_SELECT = f"SELECT {SCHEDULE_COLUMNS} FROM workflow_schedules WHERE key = ?"  # noqa: S608
_DUE = (
    f"SELECT {SCHEDULE_COLUMNS} FROM workflow_schedules WHERE next_run_at <= ? "  # noqa: S608
    "AND workflow IN (SELECT value FROM json_each(?)) ORDER BY next_run_at, key LIMIT 1"
)
_ADVANCE = (
    "UPDATE workflow_schedules SET next_run_at = ?, updated_at = ? "
    "WHERE key = ? AND next_run_at = ?"
)
_DELETE = "DELETE FROM workflow_schedules WHERE key = ?"
_LIST = f"SELECT {SCHEDULE_COLUMNS} FROM workflow_schedules ORDER BY key"  # noqa: S608


def upsert(
    connection: apsw.Connection,
    schedule: WorkflowSchedule,
    recurrence: tuple[int | None, str | None],
    encoded_input: str,
    now: int,
) -> WorkflowSchedule:
    """Insert or update by key; an update keeps ``created_at`` (and a same-cadence next run)."""
    interval_ms, cron = recurrence
    connection.execute(
        _UPSERT,
        (
            schedule.key,
            schedule.workflow,
            encoded_input,
            interval_ms,
            cron,
            schedule.next_run_at,
            schedule.created_at or now,
            now,
        ),
    )
    return schedule_from_row(connection.execute(_SELECT, (schedule.key,)).fetchall()[0])


def any_due(connection: apsw.Connection, names: list[str], now: int) -> bool:
    """Whether a schedule of ``names`` is due at ``now`` (a read: no write lock taken)."""
    return bool(connection.execute(_DUE, (now, names_json(names))).fetchall())


def claim_due(
    connection: apsw.Connection, names: list[str], now: int, stamp: int
) -> WorkflowSchedule | None:
    """Advance the earliest schedule due at ``now`` (ties by key); return it as it was."""
    found: list[Row] = connection.execute(_DUE, (now, names_json(names))).fetchall()
    if not found:
        return None
    row = found[0]
    key, due, interval_ms, cron = row[0], row[5], row[3], row[4]
    following = next_occurrence(due, now, every_ms=interval_ms, cron=cron)
    connection.execute(_ADVANCE, (following, stamp, key, due))
    return schedule_from_row(row) if connection.changes() > 0 else None


def delete(connection: apsw.Connection, key: str) -> bool:
    """Remove a schedule; ``True`` if there was one."""
    connection.execute(_DELETE, (key,))
    return connection.changes() > 0


def list_all(connection: apsw.Connection) -> list[WorkflowSchedule]:
    """Every schedule, ordered by key."""
    return [schedule_from_row(row) for row in connection.execute(_LIST).fetchall()]
