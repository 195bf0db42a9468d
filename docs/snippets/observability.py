"""Hooks, a pull-based event stream, and paging through runs."""

import threading
import time

from reflow_actors import (
    Hooks,
    RunFailed,
    StepComplete,
    StepContext,
    create_engine,
    create_workflow,
)
from reflow_actors.errors import HookError
from reflow_actors.storage import MemoryStorage


def step(ctx: StepContext) -> dict:
    if ctx.input["n"] == 3:
        raise ValueError("three is unlucky")
    return {"n": ctx.input["n"]}


job = create_workflow("job").step("work", step)


# --8<-- [start:hooks]
def on_step_complete(event: StepComplete) -> None:
    print(f"hook: {event.step_name} returned {event.output} after {event.attempts} attempt(s)")


def on_run_failed(event: RunFailed) -> None:
    raise RuntimeError("the pager is down")  # never changes the run


reported: list[str] = []


def on_error(error: BaseException) -> None:  # called in the background, not awaited
    if isinstance(error, HookError):
        reported.append(f"{error} ({error.__cause__!r})")


hooks = Hooks(on_step_complete=on_step_complete, on_run_failed=on_run_failed, on_error=on_error)
engine = create_engine(storage=MemoryStorage(), workflows=[job], hooks=hooks)
# --8<-- [end:hooks]

if __name__ == "__main__":
    # --8<-- [start:stream]
    received: list[str] = []

    def consume(events) -> None:
        for event in events:  # ends when the stream is closed or the engine stops
            received.append(f"{event.type}:{getattr(event, 'step_name', '')}")

    stream = engine.stream(buffer_size=16)  # runs wait when 16 events are unread
    reader = threading.Thread(target=consume, args=(stream,))
    reader.start()

    for n in range(1, 6):
        engine.enqueue(job, {"n": n})
        time.sleep(0.002)  # distinct created_at values make the listing order obvious
    while engine.tick():
        pass
    engine.stop()  # ends the stream once its buffered events are read
    reader.join()
    print(len(received), "events, the first:", received[:3])
    print("on_error received:", reported)
    # --8<-- [end:stream]

    # --8<-- [start:pages]
    page = engine.list_runs(limit=2)
    while page:
        print([(run.input["n"], run.status.value) for run in page])
        last = page[-1]
        page = engine.list_runs(limit=2, before=last.created_at, before_id=last.id)
    print("failed:", [run.input for run in engine.list_runs(status="failed")])
    # --8<-- [end:pages]
