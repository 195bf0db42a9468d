"""PostgreSQL operations on ``workflow_steps``: fenced upserts, progress, batch claims."""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Connection

from reflow_actors.codec import encode
from reflow_actors.records import RunStatus, StepResult
from reflow_actors.storage._common import new_id, owned_steps
from reflow_actors.storage._pg_runs import claim
from reflow_actors.storage._pg_sql import Sql
from reflow_actors.storage._sqlite_rows import step_from_row
from reflow_actors.storage.base import ClaimedRun, Prepare

__all__ = [
    "StepWrite",
    "claim_with_steps",
    "held",
    "rows",
    "save",
    "save_progress",
    "upsert",
]

Conn = Connection[Any]

StepWrite = tuple[StepResult, str]
"""A row to upsert and its already encoded output."""


def held(connection: Conn, sql: Sql, run_id: str, lease_id: str) -> bool:
    """Lock the run's row if ``lease_id`` holds it; tell whether it does.

    Inside a transaction the lock lasts until it ends, so nothing can take the
    lease away between this check and the writes that follow it.
    """
    return connection.execute(sql.lock_held, (run_id, lease_id)).fetchone() is not None


def rows(connection: Conn, sql: Sql, run_id: str) -> list[StepResult]:
    """The run's rows in creation order."""
    return [step_from_row(row) for row in connection.execute(sql.steps_of, (run_id,)).fetchall()]


def _rows_of(connection: Conn, sql: Sql, run_ids: list[str]) -> dict[str, list[StepResult]]:
    found: dict[str, list[StepResult]] = {run_id: [] for run_id in run_ids}
    for row in connection.execute(sql.steps_of_many, (run_ids,)).fetchall():
        step = step_from_row(row)
        found[step.run_id].append(step)
    return found


def _params(step: StepResult, output: str, now: int) -> tuple[Any, ...]:
    return (
        step.id or new_id(),
        step.run_id,
        step.name,
        step.status.value,
        output,
        step.error,
        step.attempts,
        step.created_at or now,
        now,
    )


def upsert(connection: Conn, sql: Sql, writes: Sequence[StepWrite], now: int) -> None:
    """Upsert rows by ``(run_id, name)`` in the given order (one pipelined batch)."""
    if len(writes) == 1:
        step, output = writes[0]
        connection.execute(sql.upsert_step, _params(step, output, now))
    elif writes:
        with connection.cursor() as cursor:
            cursor.executemany(sql.upsert_step, [_params(s, out, now) for s, out in writes])


def save(
    connection: Conn, sql: Sql, step: StepResult, output: str, *, lease_id: str | None, now: int
) -> bool:
    """Upsert one row; with ``lease_id`` only while the lease is held."""
    if lease_id is None:
        upsert(connection, sql, [(step, output)], now)
        return True
    return save_progress(
        connection, sql, step.run_id, lease_id, [(step, output)], status=None, now=now
    )


def save_progress(
    connection: Conn,
    sql: Sql,
    run_id: str,
    lease_id: str,
    writes: Sequence[StepWrite],
    *,
    status: RunStatus | None,
    now: int,
) -> bool:
    """If the lease is held: upsert the rows and optionally set the status (one statement).

    A name written twice is written once, with its last values, at the place of
    its first write: what two upserts in a row would leave.
    """
    latest: dict[str, StepWrite] = {}
    for step, output in writes:
        latest[step.name] = (step, output)
    rows = list(latest.values())
    params = {
        "run_id": run_id,
        "lease_id": lease_id,
        "status": None if status is None else status.value,
        "kept": lease_id if status is RunStatus.RUNNING else None,
        "now": now,
        "ids": [step.id or new_id() for step, _ in rows],
        "names": [step.name for step, _ in rows],
        "statuses": [step.status.value for step, _ in rows],
        "outputs": [output for _, output in rows],
        "errors": [step.error for step, _ in rows],
        "attempts": [step.attempts for step, _ in rows],
        "created": [step.created_at or now for step, _ in rows],
    }
    found = connection.execute(sql.save_fenced, params).fetchone()
    return found is not None and int(found[0]) > 0


def claim_with_steps(
    connection: Conn,
    sql: Sql,
    names: list[str],
    limit: int,
    *,
    stale_before: int | None,
    now: int,
    prepare: Prepare | None,
) -> list[ClaimedRun]:
    """Claim runs, read their rows and upsert what ``prepare`` returns, in one transaction."""
    with connection.transaction():
        runs = claim(connection, sql, names, limit, stale_before=stale_before, now=now)
        if not runs:
            return []
        current = _rows_of(connection, sql, [run.id for run in runs])
        extended: list[str] = []
        for run in runs:
            extra = owned_steps(run.id, prepare(run, current[run.id]) or ()) if prepare else []
            if extra:
                # Encoded inside the transaction: a bad value undoes the whole claim.
                writes = [(step, encode(step.output, "output")) for step in extra]
                upsert(connection, sql, writes, now)
                extended.append(run.id)
        if extended:
            current.update(_rows_of(connection, sql, extended))
        return [ClaimedRun(run, current[run.id]) for run in runs]
