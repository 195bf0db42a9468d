"""Getting started: a three-step order workflow, durable on ./reflow.db."""

# --8<-- [start:workflow]
from reflow_actors import Retry, StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage


def reserve(ctx: StepContext) -> dict:
    return {"sku": ctx.input["sku"], "reserved": True}


def charge(ctx: StepContext) -> dict:
    return {"charge_id": "ch_" + ctx.input["order_id"]}


def ship(ctx: StepContext) -> dict:
    return {"tracking": "TRK-" + ctx.prev["charge_id"]}


order = (
    create_workflow("order")
    .step("reserve", reserve)
    .step("charge", charge, retry=Retry(max_attempts=3, backoff="exponential"))
    .step("ship", ship, timeout=30)
)
# --8<-- [end:workflow]

# --8<-- [start:run]
if __name__ == "__main__":
    engine = create_engine(storage=SQLiteStorage("reflow.db"), workflows=[order])
    with engine:  # start() ... stop()
        run = engine.enqueue(order, {"order_id": "o-1", "sku": "kb-42"})
        info = engine.wait(run.id, timeout=30)

    print(info.run.status)
    for step in info.steps:
        print(f"{step.name:<8} {step.status:<10} attempts={step.attempts} output={step.output}")
# --8<-- [end:run]
