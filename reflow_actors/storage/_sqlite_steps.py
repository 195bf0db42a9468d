"""SQLite operations on ``workflow_steps``: fenced upserts, progress, and batch claims."""

from __future__ import annotations

from collections.abc import Sequence

import apsw

from reflow_actors.codec import encode
from reflow_actors.records import RunStatus, StepResult
from reflow_actors.storage._common import new_id, owned_steps
from reflow_actors.storage._sqlite_rows import STEP_COLUMNS, step_from_row
from reflow_actors.storage._sqlite_runs import claim, set_claimed_status
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

StepWrite = tuple[StepResult, str]
"""A row to upsert and its already encoded output."""

_HELD = "SELECT 1 FROM workflow_runs WHERE id = ? AND status = 'running' AND lease_id = ?"
# S608: the f-strings only splice in constant column lists; every value is bound.
_SELECT = f"SELECT {STEP_COLUMNS} FROM workflow_steps WHERE run_id = ? ORDER BY created_at, rowid"  # noqa: S608
# Upsert by (run_id, name) through its unique index. DO UPDATE leaves the row in
# place, so its rowid (the tie-break of the creation order), id and created_at stay.
_UPSERT = (
    "INSERT INTO workflow_steps (id, run_id, name, status, output, error, attempts, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(run_id, name) DO UPDATE SET status = excluded.status, "
    "output = excluded.output, error = excluded.error, attempts = excluded.attempts, "
    "updated_at = excluded.updated_at"
)


def held(connection: apsw.Connection, run_id: str, lease_id: str) -> bool:
    """Tell whether ``lease_id`` holds the run (it is ``running`` under that lease)."""
    return bool(connection.execute(_HELD, (run_id, lease_id)).fetchall())


def rows(connection: apsw.Connection, run_id: str) -> list[StepResult]:
    """The run's rows in creation order."""
    return [step_from_row(row) for row in connection.execute(_SELECT, (run_id,)).fetchall()]


def upsert(connection: apsw.Connection, step: StepResult, output: str, now: int) -> None:
    """Insert or update the row for ``(run_id, name)``, keeping an existing row's identity."""
    connection.execute(
        _UPSERT,
        (
            step.id or new_id(),
            step.run_id,
            step.name,
            step.status.value,
            output,
            step.error,
            step.attempts,
            step.created_at or now,
            now,
        ),
    )


def save(
    connection: apsw.Connection, step: StepResult, output: str, lease_id: str | None, now: int
) -> bool:
    """Upsert one row; with ``lease_id`` only while the lease is held."""
    if lease_id is not None and not held(connection, step.run_id, lease_id):
        return False
    upsert(connection, step, output, now)
    return True


def save_progress(
    connection: apsw.Connection,
    run_id: str,
    lease_id: str,
    writes: Sequence[StepWrite],
    *,
    status: RunStatus | None,
    now: int,
) -> bool:
    """If the lease is held: upsert the rows and optionally set the status."""
    if not held(connection, run_id, lease_id):
        return False
    for step, output in writes:
        upsert(connection, step, output, now)
    if status is not None:
        set_claimed_status(connection, run_id, lease_id, status, now)
    return True


def claim_with_steps(
    connection: apsw.Connection,
    names: list[str],
    limit: int,
    *,
    stale_before: int | None,
    now: int,
    prepare: Prepare | None,
) -> list[ClaimedRun]:
    """Claim runs, read their rows and upsert what ``prepare`` returns, in one transaction."""
    claimed: list[ClaimedRun] = []
    for run in claim(connection, names, limit, stale_before, now):
        current = rows(connection, run.id)
        extra = owned_steps(run.id, prepare(run, current) or ()) if prepare is not None else []
        for step in extra:
            # Encoding here, inside the transaction, makes a bad value undo the whole claim.
            upsert(connection, step, encode(step.output, "output"), now)
        claimed.append(ClaimedRun(run, rows(connection, run.id) if extra else current))
    return claimed
