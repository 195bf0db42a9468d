"""Choosing a durability mode; many concurrent runs share commits either way."""

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage


# --8<-- [start:workflow]
def step(ctx: StepContext) -> int:
    return ctx.input["n"] * 2


batch = create_workflow("batch").step("double", step).step("again", lambda ctx: ctx.prev * 2)
# --8<-- [end:workflow]

if __name__ == "__main__":
    # --8<-- [start:modes]
    full = SQLiteStorage("payments.db")  # durability="full": fsync on every commit
    normal = SQLiteStorage("thumbnails.db", durability="normal")  # survives a process crash
    read_only = SQLiteStorage("payments.db", read_only=True)  # for tools beside a worker
    # --8<-- [end:modes]
    read_only.close()
    normal.close()

    # --8<-- [start:concurrent]
    with create_engine(storage=full, workflows=[batch], concurrency=16) as engine:
        runs = [engine.enqueue(batch, {"n": n}) for n in range(200)]
        outputs = [engine.wait(run.id, timeout=60).steps[-1].output for run in runs]
    print(outputs[:5], "...", len(outputs), "runs")
    # --8<-- [end:concurrent]
