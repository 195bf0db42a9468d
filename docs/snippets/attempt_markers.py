"""What storage holds while a run executes: results, attempt markers, the `when` decision."""

from reflow_actors import Retry, StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

engine = None
failures = {"charge": 1}  # "charge" fails once, then succeeds


# --8<-- [start:workflow]
def show_rows(ctx: StepContext) -> None:
    """Print the run's step rows as storage has them while this attempt runs."""
    print(f"during {ctx.step_name} (attempt {ctx.attempt}):")
    for row in engine.get_run_status(ctx.run_id).steps:
        print(f"  {row.name:<8} {row.status:<10} attempts={row.attempts} error={row.error}")


def reserve(ctx: StepContext) -> dict:
    show_rows(ctx)
    return {"reserved": True}


def charge(ctx: StepContext) -> dict:
    show_rows(ctx)
    if failures["charge"]:
        failures["charge"] -= 1
        raise ConnectionError("card network unreachable")
    return {"charge_id": "ch_1"}


def gift_wrap(ctx: StepContext) -> dict:
    show_rows(ctx)
    return {"wrapped": True}


order = (
    create_workflow("order")
    .step("reserve", reserve)
    .step("charge", charge, retry=Retry(max_attempts=3, initial_delay=0.05))
    .step("wrap", gift_wrap, when=lambda ctx: ctx.input.get("gift", False))
)
# --8<-- [end:workflow]

if __name__ == "__main__":
    # --8<-- [start:run]
    engine = create_engine(storage=SQLiteStorage("markers.db"), workflows=[order])
    with engine:
        run = engine.enqueue(order, {"order_id": "o-1", "gift": True})
        info = engine.wait(run.id, timeout=30)
    print("finally:")
    for row in info.steps:
        print(f"  {row.name:<8} {row.status:<10} attempts={row.attempts} output={row.output}")
    # --8<-- [end:run]
