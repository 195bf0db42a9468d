"""Quick start: a two-step order workflow, durable on a local SQLite file."""

from __future__ import annotations

from reflow_actors import Retry, StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage


def charge(ctx: StepContext[dict[str, str], None]) -> dict[str, str]:
    return {"charge_id": "ch_" + ctx.input["order_id"]}


def ship(ctx: StepContext[dict[str, str], dict[str, str]]) -> dict[str, str]:
    return {"tracking": "TRK-" + ctx.prev["charge_id"]}  # ctx.prev: charge's output


order = (
    create_workflow("order")
    .step("charge", charge)
    .step("ship", ship, retry=Retry(max_attempts=3, initial_delay="200ms"), timeout=5)
)

if __name__ == "__main__":
    with create_engine(storage=SQLiteStorage("quickstart.db"), workflows=[order]) as engine:
        run = engine.enqueue(order, {"order_id": "o-1"})
        info = engine.wait(run.id, timeout=30)
    print(f"run {info.run.id}: {info.run.status}")
    for step in info.steps:
        print(f"  {step.name:<7} {step.status:<10} attempts={step.attempts} output={step.output}")
