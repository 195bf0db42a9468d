"""An application module for the ``reflow`` command: ``reflow worker cli_app:engine``.

``python cli_app.py`` enqueues one run and prints its id. The engine uses the
database named by ``$REFLOW_DB`` (``reflow worker --db PATH`` sets it), else
``./reflow.db``.
"""

import os
from dataclasses import dataclass

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage


@dataclass
class Decision:
    approved: bool
    by: str


def request(ctx: StepContext) -> dict:
    return {"refund_id": ctx.input["refund_id"], "cents": ctx.input["cents"]}


def apply(ctx: StepContext) -> dict:
    decision: Decision = ctx.prev
    return {"refunded": decision.approved, "approved_by": decision.by}


refund = (
    create_workflow("refund")
    .step("request", request)
    .wait_for_event("decision", schema=Decision, timeout="2d")
    .step("apply", apply)
)

engine = create_engine(
    storage=SQLiteStorage(os.environ.get("REFLOW_DB", "reflow.db")),
    workflows=[refund],
    concurrency=4,
)

if __name__ == "__main__":
    run = engine.enqueue(refund, {"refund_id": "r-1", "cents": 1299})
    print(run.id)
