"""Durable sleep and wait_for_event, driven on a virtual clock so that "3d" passes at once."""

from dataclasses import dataclass

from reflow_actors import StepContext, VirtualClock, create_engine, create_workflow
from reflow_actors.storage import MemoryStorage


# --8<-- [start:workflow]
@dataclass
class Approval:  # the event's schema: a dataclass, a pydantic model or a callable
    approved: bool
    by: str


def submit(ctx: StepContext) -> dict:
    return {"expense_id": ctx.input["expense_id"]}


def settle(ctx: StepContext) -> dict:
    decision: Approval = ctx.prev  # the validated payload, loaded with the schema
    return {"paid": decision.approved, "approved_by": decision.by}


expense = (
    create_workflow("expense")
    .step("submit", submit)
    .wait_for_event("approval", schema=Approval, timeout="7d")
    .sleep("cooling-off", "3d")
    .step("settle", settle)
)
# --8<-- [end:workflow]

if __name__ == "__main__":
    # --8<-- [start:run]
    clock = VirtualClock()  # frozen: time moves only when we move it
    engine = create_engine(storage=MemoryStorage(clock=clock), workflows=[expense], clock=clock)
    run = engine.enqueue(expense, {"expense_id": "e-9"})

    engine.tick()  # runs "submit", then parks the run until the event comes
    print(engine.get_run_status(run.id).run.status)

    engine.send_event(run.id, "approval", {"approved": True, "by": "dana"})
    engine.tick()  # consumes the event, starts the 3-day sleep, parks the run again
    info = engine.get_run_status(run.id)
    print(info.run.status, [(s.name, s.status.value) for s in info.steps])

    clock.advance(3 * 24 * 3600)
    engine.tick()  # due: any engine claims it, "settle" runs
    info = engine.get_run_status(run.id)
    print(info.run.status, info.step("settle").output)
    # --8<-- [end:run]

    # --8<-- [start:early]
    early = engine.enqueue(expense, {"expense_id": "e-10"})
    engine.send_event(early.id, "approval", {"approved": False, "by": "lee"})  # buffered
    engine.tick()  # "submit" runs, the wait finds the buffered event at once
    print(engine.get_run_status(early.id).run.status)
    # --8<-- [end:early]

    # --8<-- [start:timeout]
    late = engine.enqueue(expense, {"expense_id": "e-11"})
    engine.tick()
    clock.advance(7 * 24 * 3600)  # nobody approved within "7d"
    while engine.tick():  # one run per tick (concurrency=1): drain everything that is due
        pass
    info = engine.get_run_status(late.id)
    print(info.run.status, "|", info.step("approval").error)
    engine.stop()
    # --8<-- [end:timeout]
