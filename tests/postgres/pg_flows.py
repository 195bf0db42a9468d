"""The workflow the multi-worker test runs, with a side-effect ledger in PostgreSQL.

Each step appends one row to ``<schema>.ledger`` in its own committed
transaction (a pool separate from the engine's), then returns an output
carrying the worker's pid, a random token and the previous step's token. The
ledger is what really happened; storage is what the engine recorded. Comparing
them shows re-executions (two ledger rows for one step) and whether the
recorded output is the one an execution produced.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from psycopg_pool import ConnectionPool

from reflow_actors import Hooks, Workflow, create_workflow

STEPS = ("s1", "s2", "s3")
WORK_SECONDS = 0.002  # simulated work, so that a kill lands inside steps too

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS "{schema}".ledger (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id  text NOT NULL,
  step    text NOT NULL,
  attempt integer NOT NULL,
  pid     integer NOT NULL,
  token   text NOT NULL,
  at      timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


def build(
    dsn: str, schema: str, pool_size: int
) -> tuple[Workflow[Any, Any], Hooks, ConnectionPool[Any]]:
    """The workflow, its hooks and the ledger pool (which the caller closes)."""
    pool: ConnectionPool[Any] = ConnectionPool(
        dsn, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, open=True
    )
    insert = (
        f'INSERT INTO "{schema}".ledger (run_id, step, attempt, pid, token) '
        "VALUES (%s, %s, %s, %s, %s)"
    )

    def record(run_id: str, step: str, attempt: int, token: str) -> None:
        with pool.connection() as connection:
            connection.execute(insert, (run_id, step, attempt, os.getpid(), token))

    def step(name: str) -> Any:
        def handler(ctx: Any) -> dict[str, Any]:
            time.sleep(WORK_SECONDS)
            token = uuid.uuid4().hex
            prev = ctx.prev.get("token") if isinstance(ctx.prev, dict) else None
            record(ctx.run_id, name, ctx.attempt, token)
            return {"step": name, "pid": os.getpid(), "token": token, "prev": prev}

        return handler

    workflow: Workflow[Any, Any] = create_workflow("ledgered")
    for name in STEPS:
        workflow = workflow.step(name, step(name))

    def on_run_complete(event: Any) -> None:
        record(event.run_id, "*complete*", 0, "-")

    return workflow, Hooks(on_run_complete=on_run_complete), pool
