"""SQLite operations for suspended runs: sleeping, waiting and buffered events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import apsw

from reflow_actors.codec import decode, encode
from reflow_actors.records import StepResult, TakenEvent
from reflow_actors.storage._common import new_id, owned_steps
from reflow_actors.storage._sqlite_rows import Row
from reflow_actors.storage._sqlite_steps import held, upsert

__all__ = ["consume", "deliver", "sleep", "take", "wait"]

_SLEEP = (
    "UPDATE workflow_runs SET status = 'sleeping', lease_id = NULL, wake_at = ?, updated_at = ? "
    "WHERE id = ? AND status = 'running' AND lease_id = ?"
)
_BUFFERED = "SELECT 1 FROM workflow_events WHERE run_id = ? AND event_name = ? LIMIT 1"
_WAIT = (
    "UPDATE workflow_runs SET status = ?, lease_id = NULL, wake_at = ?, updated_at = ? WHERE id = ?"
)
_EXISTS = "SELECT 1 FROM workflow_runs WHERE id = ?"
_INSERT = (
    "INSERT INTO workflow_events (id, run_id, event_name, payload, created_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
_WAKE = (
    "UPDATE workflow_runs SET status = 'pending', lease_id = NULL, wake_at = NULL, "
    "updated_at = ? WHERE id = ? AND status = 'waiting'"
)
_OLDEST = (
    "SELECT rowid, payload FROM workflow_events WHERE run_id = ? AND event_name = ? "
    "ORDER BY created_at, rowid LIMIT 1"
)
_DELETE = "DELETE FROM workflow_events WHERE rowid = ?"


def sleep(connection: apsw.Connection, run_id: str, lease_id: str, wake_at: int, now: int) -> bool:
    """If the lease is held: ``sleeping`` until ``wake_at``, lease released."""
    connection.execute(_SLEEP, (wake_at, now, run_id, lease_id))
    return connection.changes() > 0


def wait(
    connection: apsw.Connection,
    run_id: str,
    lease_id: str,
    event_name: str,
    *,
    wake_at: int | None,
    now: int,
) -> bool:
    """If the lease is held: ``pending`` when the event is already buffered, else ``waiting``.

    Checking the buffer in the same transaction closes the race with a
    ``deliver`` that came just before the wait.
    """
    if not held(connection, run_id, lease_id):
        return False
    if connection.execute(_BUFFERED, (run_id, event_name)).fetchall():
        connection.execute(_WAIT, ("pending", None, now, run_id))
    else:
        connection.execute(_WAIT, ("waiting", wake_at, now, run_id))
    return True


def deliver(
    connection: apsw.Connection, run_id: str, event_name: str, payload: str, now: int
) -> bool:
    """Buffer an event for an existing run; a ``waiting`` run becomes ``pending``."""
    if not connection.execute(_EXISTS, (run_id,)).fetchall():
        return False
    connection.execute(_INSERT, (new_id(), run_id, event_name, payload, now))
    connection.execute(_WAKE, (now, run_id))
    return True


def consume(
    connection: apsw.Connection,
    run_id: str,
    lease_id: str,
    event_name: str,
    rows: Callable[[Any], Sequence[StepResult]],
    *,
    now: int,
) -> TakenEvent | None:
    """If the lease is held: take the oldest event and upsert ``rows(payload)``.

    In one transaction, so a crash cannot lose the event between the two; a
    failing ``rows`` or an unpersistable row undoes the take.
    """
    if not held(connection, run_id, lease_id):
        return None
    found: list[Row] = connection.execute(_OLDEST, (run_id, event_name)).fetchall()
    if not found:
        return None
    rowid, encoded = found[0]
    payload = decode(encoded)
    for step in owned_steps(run_id, rows(payload)):
        upsert(connection, step, encode(step.output, "output"), now)
    connection.execute(_DELETE, (rowid,))
    return TakenEvent(payload)


def take(connection: apsw.Connection, run_id: str, event_name: str) -> TakenEvent | None:
    """Remove and return the oldest buffered event of that name."""
    found: list[Row] = connection.execute(_OLDEST, (run_id, event_name)).fetchall()
    if not found:
        return None
    rowid, payload = found[0]
    connection.execute(_DELETE, (rowid,))
    return TakenEvent(decode(payload))
