"""PostgreSQL operations for suspended runs: sleeping, waiting and buffered events.

The race between ``wait_run`` and ``deliver_event`` is closed with the run's row
lock. Both take it first (``FOR NO KEY UPDATE``) and keep it until they commit,
so one runs entirely before the other. Whichever comes second starts a fresh
statement after acquiring the lock and so, under READ COMMITTED, sees what the
first committed: a wait after a delivery finds the buffered event and leaves
the run ``pending``; a delivery after a wait finds it ``waiting`` and wakes it.
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from psycopg import Connection

from reflow_actors.codec import decode, encode
from reflow_actors.records import StepResult, TakenEvent
from reflow_actors.storage._common import owned_steps
from reflow_actors.storage._pg_sql import Sql
from reflow_actors.storage._pg_steps import held, upsert

__all__ = ["consume", "deliver", "sleep", "take", "wait"]

Conn = Connection[Any]


def sleep(
    connection: Conn, sql: Sql, run_id: str, lease_id: str, *, wake_at: int, now: int
) -> bool:
    """If the lease is held: ``sleeping`` until ``wake_at``, lease released."""
    return connection.execute(sql.sleep, (wake_at, now, run_id, lease_id)).rowcount > 0


def wait(
    connection: Conn,
    sql: Sql,
    run_id: str,
    lease_id: str,
    event_name: str,
    *,
    wake_at: int | None,
    now: int,
) -> bool:
    """If the lease is held: ``pending`` when the event is already buffered, else ``waiting``."""
    with connection.transaction():
        if not held(connection, sql, run_id, lease_id):
            return False
        found = connection.execute(sql.has_event, (run_id, event_name)).fetchone()
        if found is not None and found[0]:
            connection.execute(sql.suspend, ("pending", None, now, run_id))
        else:
            connection.execute(sql.suspend, ("waiting", wake_at, now, run_id))
        return True


def deliver(
    connection: Conn, sql: Sql, run_id: str, event_name: str, *, payload: str, now: int
) -> bool:
    """Buffer an event for an existing run; a ``waiting`` run becomes ``pending``."""
    with connection.transaction():
        if connection.execute(sql.lock_run, (run_id,)).fetchone() is None:
            return False
        connection.execute(sql.insert_event, (run_id, event_name, payload, now))
        connection.execute(sql.wake_waiting, (now, run_id))
        return True


def take(connection: Conn, sql: Sql, run_id: str, event_name: str) -> TakenEvent | None:
    """Remove and return the oldest buffered event of that name (one statement)."""
    found = connection.execute(sql.take_event, (run_id, event_name)).fetchone()
    return None if found is None else TakenEvent(decode(found[0]))


def consume(
    connection: Conn,
    sql: Sql,
    run_id: str,
    lease_id: str,
    event_name: str,
    *,
    rows: Callable[[Any], Sequence[StepResult]],
    now: int,
) -> TakenEvent | None:
    """Under the held lease, take the oldest event and upsert ``rows(payload)`` atomically."""
    with connection.transaction():
        if not held(connection, sql, run_id, lease_id):
            return None
        found = connection.execute(sql.take_event, (run_id, event_name)).fetchone()
        if found is None:
            return None
        steps = owned_steps(run_id, rows(decode(found[0])))
        upsert(connection, sql, [(step, encode(step.output, "output")) for step in steps], now)
        return TakenEvent(decode(found[0]))
