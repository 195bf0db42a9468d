"""Which actor runs what: thread names seen from a step, parallel branches and a hook."""

import threading

from reflow_actors import Hooks, StepContext, create_engine, create_workflow
from reflow_actors.storage import MemoryStorage

run_id = ""
seen: dict[str, str] = {}


def where(what: str) -> None:
    seen[what] = threading.current_thread().name.replace(run_id, "<run>")


# --8<-- [start:workflow]
def fetch(ctx: StepContext) -> dict:
    where("step fetch")
    names = sorted(t.name.replace(run_id, "<run>") for t in threading.enumerate())
    seen["all threads, during fetch"] = ", ".join(n for n in names if n != "MainThread")
    return {"id": 7}


def enrich(ctx: StepContext) -> dict:
    where(f"branch {ctx.step_name}")
    return {"ok": True}


flow = create_workflow("flow").step("fetch", fetch).parallel({"geo": enrich, "credit": enrich})
hooks = Hooks(on_run_complete=lambda event: where("hook on_run_complete"))
engine = create_engine(storage=MemoryStorage(), workflows=[flow], hooks=hooks)
# --8<-- [end:workflow]

if __name__ == "__main__":
    # --8<-- [start:tick]
    run_id = engine.enqueue(flow, None).id
    engine.tick()  # claim, execute, return once the run is decided
    print("engine.dispatcher refers to a", engine.dispatcher.actor_class.__name__)
    engine.stop()
    for what in sorted(seen):
        print(f"{what:<26} {seen[what]}")
    # --8<-- [end:tick]
