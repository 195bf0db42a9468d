"""Opening a database written by reflow-ts 0.7 and finishing its runs in Python.

The first part only fabricates such a file (the tables reflow-ts creates, a run
that a Node process left half done, and a schedule); with a real one, skip it.
"""

import os

import apsw

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

DB = "from-reflow-ts.db"

REFLOW_TS_0_7 = """
CREATE TABLE workflow_runs (id TEXT PRIMARY KEY, workflow TEXT NOT NULL, input TEXT NOT NULL,
  idempotency_key TEXT, lease_id TEXT, status TEXT NOT NULL, wake_at INTEGER,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE workflow_steps (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL,
  status TEXT NOT NULL, output TEXT, error TEXT, attempts INTEGER DEFAULT 0,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE workflow_events (id TEXT PRIMARY KEY, run_id TEXT NOT NULL,
  event_name TEXT NOT NULL, payload TEXT, created_at INTEGER NOT NULL);
CREATE TABLE workflow_schedules (key TEXT PRIMARY KEY, workflow TEXT NOT NULL,
  input TEXT NOT NULL, interval_ms INTEGER, cron TEXT, next_run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX idx_runs_status ON workflow_runs(status, workflow);
CREATE INDEX idx_runs_wake ON workflow_runs(status, wake_at);
CREATE INDEX idx_steps_run_id ON workflow_steps(run_id);
CREATE UNIQUE INDEX idx_runs_workflow_idempotency
  ON workflow_runs(workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A run whose Node worker died after "charge": still "running", its lease long stale.
INSERT INTO workflow_runs VALUES ('run-1', 'order', '{"orderId":"o-1"}', 'o-1', 'lease-ts',
  'running', NULL, 1700000000000, 1700000000000);
INSERT INTO workflow_steps VALUES ('step-1', 'run-1', 'charge', 'completed',
  '{"chargedAt":{"__reflowDate__":"2023-11-14T22:13:20.000Z"},"note":{"__reflowUndefined__":true}}',
  NULL, 1, 1700000000000, 1700000000000);
INSERT INTO workflow_schedules VALUES ('nightly', 'order', '{"orderId":"sweep"}', 86400000,
  NULL, 4102444800000, 1700000000000, 1700000000000);
"""


def fabricate() -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(DB + suffix):
            os.remove(DB + suffix)
    connection = apsw.Connection(DB)
    connection.execute(REFLOW_TS_0_7)
    connection.close()


# --8<-- [start:open]
def charge(ctx: StepContext) -> dict:
    raise AssertionError("never called: reflow-ts already recorded this step")


def ship(ctx: StepContext) -> dict:
    charged = ctx.prev  # reflow-ts's output, decoded
    return {
        "order_id": ctx.input["orderId"],
        "charged_year": charged["chargedAt"].year,
        "note": charged["note"],
    }


order = create_workflow("order").step("charge", charge).step("ship", ship)  # same names as in TS

if __name__ == "__main__":
    fabricate()
    engine = create_engine(storage=SQLiteStorage(DB), workflows=[order])  # migrates on first use
    engine.tick()  # reclaims the stale run; "charge" is replayed, "ship" runs
    info = engine.get_run_status("run-1")
    print(info.run.status, info.run.idempotency_key, info.step("ship").output)
    print([(s.key, s.every, s.cron) for s in engine.list_schedules()])
    engine.stop()
# --8<-- [end:open]
