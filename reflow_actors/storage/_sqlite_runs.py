"""SQLite operations on ``workflow_runs``: create, claim, status changes, listing, requeue.

Every function takes the connection it must use; the writes run inside the
group commit's transaction, the reads on a reader connection.
"""

from __future__ import annotations

import functools

import apsw

from reflow_actors.codec import decode
from reflow_actors.records import CreatedRun, RunStatus, WorkflowRun
from reflow_actors.storage._common import list_filter, new_id
from reflow_actors.storage._sqlite_rows import RUN_COLUMNS, Row, names_json, run_from_row

__all__ = [
    "cancel",
    "claim",
    "create",
    "get",
    "heartbeat",
    "list_query",
    "list_runs",
    "requeue",
    "set_claimed_status",
    "set_status",
]

# S608: the f-strings only splice in constant column lists; every value is bound.
_SELECT = f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = ?"  # noqa: S608
_SELECT_KEYED = (
    f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE workflow = ? AND idempotency_key = ?"  # noqa: S608
)
_INSERT = (
    "INSERT INTO workflow_runs (id, workflow, input, idempotency_key, lease_id, status, "
    "wake_at, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, ?)"
)

# One query per eligibility group, each forced onto its partial index so that
# finished runs (most of the table, eventually) are never scanned.
_PENDING = (
    f"SELECT rowid, {RUN_COLUMNS} FROM workflow_runs INDEXED BY idx_runs_pending "  # noqa: S608
    "WHERE status = 'pending' AND workflow = ? ORDER BY created_at, rowid LIMIT ?"
)
_DUE = (
    f"SELECT rowid, {RUN_COLUMNS} FROM workflow_runs INDEXED BY idx_runs_due "  # noqa: S608
    "WHERE status IN ('sleeping', 'waiting') AND wake_at <= ? "
    "AND workflow IN (SELECT value FROM json_each(?)) ORDER BY created_at, rowid LIMIT ?"
)
_STALE = (
    f"SELECT rowid, {RUN_COLUMNS} FROM workflow_runs INDEXED BY idx_runs_stale "  # noqa: S608
    "WHERE status = 'running' AND updated_at <= ? "
    "AND workflow IN (SELECT value FROM json_each(?)) ORDER BY created_at, rowid LIMIT ?"
)
_CLAIM = (
    "UPDATE workflow_runs SET status = 'running', lease_id = ?, wake_at = NULL, updated_at = ? "
    "WHERE rowid = ?"
)
_HEARTBEAT = (
    "UPDATE workflow_runs SET updated_at = ? WHERE id = ? AND status = 'running' AND lease_id = ?"
)
_SET_STATUS = (
    "UPDATE workflow_runs SET status = ?, lease_id = NULL, wake_at = NULL, updated_at = ? "
    "WHERE id = ?"
)
_SET_CLAIMED_STATUS = (
    "UPDATE workflow_runs SET status = ?, lease_id = ?, wake_at = NULL, updated_at = ? "
    "WHERE id = ? AND status = 'running' AND lease_id = ?"
)
_CANCEL = (
    "UPDATE workflow_runs SET status = 'cancelled', lease_id = NULL, wake_at = NULL, "
    "updated_at = ? WHERE id = ? AND status IN ('pending', 'running', 'sleeping', 'waiting')"
)
_REQUEUE = (
    "UPDATE workflow_runs SET status = 'pending', lease_id = NULL, wake_at = NULL, "
    "updated_at = ? WHERE id = ? AND status IN ('failed', 'cancelled')"
)
_DROP_FAILED_STEPS = "DELETE FROM workflow_steps WHERE run_id = ? AND status = 'failed'"


def get(connection: apsw.Connection, run_id: str) -> WorkflowRun | None:
    """The run without its lease, or ``None``."""
    rows = connection.execute(_SELECT, (run_id,)).fetchall()
    return run_from_row(rows[0]) if rows else None


def _keyed(connection: apsw.Connection, workflow: str, key: str) -> WorkflowRun | None:
    rows = connection.execute(_SELECT_KEYED, (workflow, key)).fetchall()
    return run_from_row(rows[0]) if rows else None


def create(
    connection: apsw.Connection, run: WorkflowRun, status: RunStatus, encoded_input: str
) -> CreatedRun:
    """Insert ``run`` unless its idempotency key is taken; return what is stored."""
    key = run.idempotency_key
    if key is not None:
        existing = _keyed(connection, run.workflow, key)
        if existing is not None:
            return CreatedRun(existing, created=False)
    values = (run.id, run.workflow, encoded_input, key, status.value, run.created_at)
    try:
        connection.execute(_INSERT, (*values, run.updated_at))
    except apsw.ConstraintError:
        # Another connection inserted the key first: it won, return its run.
        existing = None if key is None else _keyed(connection, run.workflow, key)
        if existing is None:
            raise
        return CreatedRun(existing, created=False)
    stored = WorkflowRun(
        run.id, run.workflow, decode(encoded_input), key, status, run.created_at, run.updated_at
    )
    return CreatedRun(stored, created=True)


def claim(
    connection: apsw.Connection,
    names: list[str],
    limit: int,
    stale_before: int | None,
    now: int,
) -> list[WorkflowRun]:
    """Claim up to ``limit`` eligible runs: pending, then due, then stale; oldest first."""
    claimed: list[WorkflowRun] = []
    for row in _eligible(connection, names, limit, stale_before, now):
        lease = new_id()
        connection.execute(_CLAIM, (lease, now, row[0]))
        claimed.append(
            run_from_row(row[1:], status=RunStatus.RUNNING, updated_at=now, lease_id=lease)
        )
    return claimed


def claimable(
    connection: apsw.Connection, names: list[str], stale_before: int | None, now: int
) -> bool:
    """Whether a claim would find anything (a read: no write lock taken)."""
    return bool(_eligible(connection, names, 1, stale_before, now))


def _eligible(
    connection: apsw.Connection,
    names: list[str],
    limit: int,
    stale_before: int | None,
    now: int,
) -> list[Row]:
    # Each group is read before anything is updated, so a run claimed from one
    # group cannot show up again in a later one (the groups are disjoint by status).
    pending: list[Row] = []
    for name in names:
        pending.extend(connection.execute(_PENDING, (name, limit)).fetchall())
    if len(names) > 1:
        pending.sort(key=_claim_order)
        del pending[limit:]
    chosen = pending
    if len(chosen) < limit:
        due = (now, names_json(names), limit - len(chosen))
        chosen.extend(connection.execute(_DUE, due).fetchall())
    if len(chosen) < limit and stale_before is not None:
        stale = (stale_before, names_json(names), limit - len(chosen))
        chosen.extend(connection.execute(_STALE, stale).fetchall())
    return chosen


def _claim_order(row: Row) -> tuple[int, int]:
    """(created_at, rowid) of a ``rowid, RUN_COLUMNS`` row."""
    return (row[6], row[0])


def heartbeat(connection: apsw.Connection, run_id: str, lease_id: str, now: int) -> bool:
    """Touch ``updated_at`` if the lease is held."""
    connection.execute(_HEARTBEAT, (now, run_id, lease_id))
    return connection.changes() > 0


def set_status(connection: apsw.Connection, run_id: str, status: RunStatus, now: int) -> bool:
    """Set ``status`` without a lease check, clearing lease and wake time."""
    connection.execute(_SET_STATUS, (status.value, now, run_id))
    return connection.changes() > 0


def set_claimed_status(
    connection: apsw.Connection, run_id: str, lease_id: str, status: RunStatus, now: int
) -> bool:
    """Set ``status`` if the lease is held; keep the lease only for ``running``."""
    kept = lease_id if status is RunStatus.RUNNING else None
    connection.execute(_SET_CLAIMED_STATUS, (status.value, kept, now, run_id, lease_id))
    return connection.changes() > 0


def cancel(connection: apsw.Connection, run_id: str, now: int) -> bool:
    """Cancel the run unless it is terminal or missing."""
    connection.execute(_CANCEL, (now, run_id))
    return connection.changes() > 0


def requeue(connection: apsw.Connection, run_id: str, now: int) -> bool:
    """``failed``/``cancelled`` → ``pending``, dropping the run's ``failed`` step rows."""
    connection.execute(_REQUEUE, (now, run_id))
    if connection.changes() == 0:
        return False
    connection.execute(_DROP_FAILED_STEPS, (run_id,))
    return True


@functools.cache
def list_query(
    *,
    status: RunStatus | None,
    workflow: str | None,
    limit: int,
    before: int | None,
    before_id: str | None,
) -> tuple[str, tuple[object, ...]]:
    """The ``list_runs`` statement and its parameters (every shape is index-backed)."""
    where, params = list_filter(
        status=status, workflow=workflow, before=before, before_id=before_id, mark="?"
    )
    sql = (
        f"SELECT {RUN_COLUMNS} FROM workflow_runs{where} ORDER BY created_at DESC, id DESC LIMIT ?"  # noqa: S608 - constant parts, bound values
    )
    return sql, (*params, limit)


def list_runs(
    connection: apsw.Connection,
    *,
    status: RunStatus | None,
    workflow: str | None,
    limit: int,
    before: int | None,
    before_id: str | None,
) -> list[WorkflowRun]:
    """Runs newest first by ``(created_at, id)``, filtered, keyset-paginated."""
    sql, params = list_query(
        status=status, workflow=workflow, limit=limit, before=before, before_id=before_id
    )
    return [run_from_row(row) for row in connection.execute(sql, params).fetchall()]
