"""asyncio: async handlers and hooks, engine.aio, and async iteration over events."""

import asyncio
import threading

from reflow_actors import Hooks, StepComplete, StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage


# --8<-- [start:workflow]
async def fetch_page(ctx: StepContext) -> dict:
    await asyncio.sleep(0.01)  # an HTTP call with your async client
    return {"url": ctx.input["url"], "words": 1200}


async def summarize(ctx: StepContext) -> dict:
    await asyncio.sleep(0.01)  # a model call with your async client
    return {"summary": f"{ctx.prev['words']} words, summarized"}


cancelled_because: list[str] = []
train_stopped = threading.Event()


async def train(ctx: StepContext) -> dict:
    try:
        await asyncio.sleep(3600)  # cancelled when the step's signal is aborted
    except asyncio.CancelledError:
        cancelled_because.append(type(ctx.signal.reason).__name__)
        raise
    finally:
        train_stopped.set()
    return {}


async def on_step_complete(event: StepComplete) -> None:
    await asyncio.sleep(0)  # e.g. push a metric with an async client
    print("hook:", event.step_name, "done")


pipeline = create_workflow("pipeline").step("fetch", fetch_page).step("summarize", summarize)
training = create_workflow("training").step("train", train)
engine = create_engine(
    storage=SQLiteStorage("async-demo.db"),
    workflows=[pipeline, training],
    hooks=Hooks(on_step_complete=on_step_complete),
)
# --8<-- [end:workflow]


# --8<-- [start:main]
async def follow_a_run() -> None:
    async with engine.aio.stream() as events:
        run = await engine.aio.enqueue(pipeline, {"url": "https://example.com"})
        async for event in events:
            print("event:", event.type, getattr(event, "step_name", ""))
            if event.type in ("run_complete", "run_failed") and event.run_id == run.id:
                break
    info = await engine.aio.wait(run.id, timeout=30)
    print(info.run.status, info.step("summarize").output)


async def main() -> None:
    await engine.aio.start()
    try:
        await follow_a_run()
        await cancel_a_run()
    finally:
        await engine.aio.stop()


# --8<-- [end:main]


# --8<-- [start:cancel]
async def cancel_a_run() -> None:
    job = await engine.aio.enqueue(training, None)
    while (await engine.aio.get_run_status(job.id)).step("train") is None:
        await asyncio.sleep(0.01)  # until the step has started
    await engine.aio.cancel(job.id)
    info = await engine.aio.wait(job.id, timeout=30)
    print(info.run.status)
    await asyncio.to_thread(train_stopped.wait, 5)  # the handler's task unwinds on its own loop
    print("train was cancelled:", cancelled_because)


# --8<-- [end:cancel]


if __name__ == "__main__":
    asyncio.run(main())
