"""PostgreSQL operations on ``workflow_runs``: create, claim, statuses, listing.

Each function takes a pooled connection in autocommit mode: a single
statement commits by itself, and the multi-statement operations open their
own transaction with ``connection.transaction()``.
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

import functools
from typing import Any

from psycopg import Connection

from reflow_actors.codec import decode
from reflow_actors.errors import StorageError
from reflow_actors.records import CreatedRun, RunStatus, WorkflowRun
from reflow_actors.storage._common import list_filter, new_id
from reflow_actors.storage._pg_sql import Sql
from reflow_actors.storage._sqlite_rows import RUN_COLUMNS, Row, run_from_row

__all__ = [
    "cancel",
    "claim",
    "create",
    "get",
    "heartbeat",
    "list_runs",
    "requeue",
    "set_claimed_status",
    "set_status",
]

Conn = Connection[Any]


def get(connection: Conn, sql: Sql, run_id: str) -> WorkflowRun | None:
    """The run without its lease, or ``None``."""
    row = connection.execute(sql.get_run, (run_id,)).fetchone()
    return None if row is None else run_from_row(row)


def _keyed(connection: Conn, sql: Sql, workflow: str, key: str) -> WorkflowRun | None:
    row = connection.execute(sql.get_keyed, (workflow, key)).fetchone()
    return None if row is None else run_from_row(row)


def create(
    connection: Conn, sql: Sql, run: WorkflowRun, status: RunStatus, encoded_input: str
) -> CreatedRun:
    """Insert ``run`` unless its idempotency key is taken; return what is stored.

    ``ON CONFLICT DO NOTHING`` makes a concurrent insert of the same key wait
    for the first one and then insert nothing; the key then finds the winner.
    """
    key = run.idempotency_key
    if key is not None:
        existing = _keyed(connection, sql, run.workflow, key)
        if existing is not None:
            return CreatedRun(existing, created=False)
    values = (run.id, run.workflow, encoded_input, key, status.value)
    inserted = connection.execute(
        sql.insert_run, (*values, run.created_at, run.updated_at)
    ).fetchone()
    if inserted is None:
        existing = None if key is None else _keyed(connection, sql, run.workflow, key)
        if existing is None:
            raise StorageError("create_run", f"a run with id {run.id!r} already exists")
        return CreatedRun(existing, created=False)
    stored = WorkflowRun(
        run.id, run.workflow, decode(encoded_input), key, status, run.created_at, run.updated_at
    )
    return CreatedRun(stored, created=True)


def claim(
    connection: Conn,
    sql: Sql,
    names: list[str],
    limit: int,
    *,
    stale_before: int | None,
    now: int,
) -> list[WorkflowRun]:
    """Claim up to ``limit`` eligible runs: pending, then due, then stale; oldest first.

    Call inside a transaction: the picked rows stay locked (``FOR UPDATE``)
    until it ends, and other claimers skip them rather than wait.
    """
    rows: list[Row] = connection.execute(sql.pick_pending, (names, limit)).fetchall()
    if len(rows) < limit:
        due = (now, names, limit - len(rows))
        rows.extend(connection.execute(sql.pick_due, due).fetchall())
    if len(rows) < limit and stale_before is not None:
        stale = (stale_before, names, limit - len(rows))
        rows.extend(connection.execute(sql.pick_stale, stale).fetchall())
    if not rows:
        return []
    leases = [new_id() for _ in rows]
    connection.execute(sql.claim, (now, [row[0] for row in rows], leases))
    return [
        run_from_row(row, status=RunStatus.RUNNING, updated_at=now, lease_id=lease)
        for row, lease in zip(rows, leases, strict=True)
    ]


def heartbeat(connection: Conn, sql: Sql, run_id: str, lease_id: str, now: int) -> bool:
    """Touch ``updated_at`` if the lease is held."""
    return connection.execute(sql.heartbeat, (now, run_id, lease_id)).rowcount > 0


def set_status(connection: Conn, sql: Sql, run_id: str, status: RunStatus, now: int) -> bool:
    """Set ``status`` without a lease check, clearing lease and wake time."""
    return connection.execute(sql.set_status, (status.value, now, run_id)).rowcount > 0


def set_claimed_status(
    connection: Conn, sql: Sql, run_id: str, lease_id: str, status: RunStatus, *, now: int
) -> bool:
    """Set ``status`` if the lease is held; keep the lease only for ``running``."""
    kept = lease_id if status is RunStatus.RUNNING else None
    params = (status.value, kept, now, run_id, lease_id)
    return connection.execute(sql.set_claimed_status, params).rowcount > 0


def cancel(connection: Conn, sql: Sql, run_id: str, now: int) -> bool:
    """Cancel the run unless it is terminal or missing."""
    return connection.execute(sql.cancel, (now, run_id)).rowcount > 0


def requeue(connection: Conn, sql: Sql, run_id: str, now: int) -> bool:
    """``failed``/``cancelled`` → ``pending``, dropping the run's ``failed`` step rows."""
    with connection.transaction():
        if connection.execute(sql.requeue, (now, run_id)).rowcount == 0:
            return False
        connection.execute(sql.drop_failed_steps, (run_id,))
        return True


@functools.cache
def list_runs(
    connection: Conn,
    sql: Sql,
    *,
    status: RunStatus | None,
    workflow: str | None,
    limit: int,
    before: int | None,
    before_id: str | None,
) -> list[WorkflowRun]:
    """Runs newest first by ``(created_at, id)``, filtered, keyset-paginated."""
    where, params = list_filter(
        status=status, workflow=workflow, before=before, before_id=before_id, mark="%s"
    )
    query = (
        f'SELECT {RUN_COLUMNS} FROM "{sql.schema}".workflow_runs{where} '  # noqa: S608 - constant parts
        "ORDER BY created_at DESC, id DESC LIMIT %s"
    )
    return [run_from_row(row) for row in connection.execute(query, (*params, limit)).fetchall()]
