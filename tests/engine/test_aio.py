"""``engine.aio``: awaitable twins of every engine method that never block the loop.

Covers API.md "Engine" ("Every engine method has an awaitable twin") and
"Details the contract fixes" (``engine.aio`` has every public engine method):
the twins exist, awaiting a slow ``wait`` or ``tick`` leaves the event loop
free (a ticking task keeps its rhythm), and ``async def`` handlers and hooks
run and are awaited.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time

import pytest

from reflow_actors import Engine, Hooks, create_workflow
from reflow_actors.errors import RunNotFoundError
from reflow_actors.records import RunStatus

pytestmark = pytest.mark.timeout(15)

PUBLIC_METHODS = sorted(
    name
    for name, member in vars(Engine).items()
    if not name.startswith("_") and inspect.isfunction(member)
)


def test_the_engine_has_the_documented_methods():
    assert set(PUBLIC_METHODS) >= {
        "start",
        "stop",
        "tick",
        "enqueue",
        "cancel",
        "get_run_status",
        "wait",
        "list_runs",
        "resume",
        "send_event",
        "schedule",
        "unschedule",
        "list_schedules",
        "stream",
    }


@pytest.mark.parametrize("name", PUBLIC_METHODS)
def test_every_public_engine_method_has_an_awaitable_twin(harness, name):
    twin = getattr(harness.engine([]).aio, name, None)
    assert twin is not None, f"engine.aio.{name} is missing"
    if name != "stream":  # an async iterator, not a coroutine
        assert inspect.iscoroutinefunction(twin), f"engine.aio.{name} is not awaitable"


class Metronome:
    """A task that ticks every 10 ms and records when; gaps show a blocked loop."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Metronome:
        async def beat() -> None:
            while True:
                self.stamps.append(time.monotonic())
                await asyncio.sleep(0.01)

        self._task = asyncio.create_task(beat())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def largest_gap(self, start: float, end: float) -> float:
        window = [s for s in self.stamps if start <= s <= end]
        assert len(window) >= 10, f"only {len(window)} beats in {end - start:.2f}s"
        return max(later - earlier for earlier, later in itertools.pairwise(window))


def _slow_workflow(name: str):
    return create_workflow(name).step("slow", lambda ctx: time.sleep(0.4) or "slow done")


def test_awaiting_wait_on_a_slow_run_leaves_the_event_loop_free(harness):
    wf = _slow_workflow("aio-wait")
    engine = harness.engine([wf])

    async def main():
        async with Metronome() as metronome:
            await engine.aio.start(poll_interval=60)
            run = await engine.aio.enqueue(wf, None)
            began = time.monotonic()
            info = await engine.aio.wait(run.id, timeout=5)
            ended = time.monotonic()
            await engine.aio.stop()
        return info, ended - began, metronome.largest_gap(began, ended)

    info, waited, gap = asyncio.run(main())
    assert info.run.status == RunStatus.COMPLETED
    assert info.step("slow").output == "slow done"
    assert waited >= 0.3
    assert gap < 0.2, f"the event loop was blocked for {gap:.2f}s"


def test_awaiting_tick_on_a_slow_run_leaves_the_event_loop_free(harness):
    wf = _slow_workflow("aio-tick")
    engine = harness.engine([wf])

    async def main():
        async with Metronome() as metronome:
            run = await engine.aio.enqueue(wf, None)
            began = time.monotonic()
            claimed = await engine.aio.tick()
            ended = time.monotonic()
            info = await engine.aio.get_run_status(run.id)
        return claimed, info, metronome.largest_gap(began, ended)

    claimed, info, gap = asyncio.run(main())
    assert claimed == 1
    assert info.run.status == RunStatus.COMPLETED
    assert gap < 0.2, f"the event loop was blocked for {gap:.2f}s"


def test_async_handlers_and_async_hooks_run_and_are_awaited_in_order(harness):
    order: list[str] = []

    async def fetch(ctx):
        await asyncio.sleep(0.01)
        order.append("fetch")
        return {"n": ctx.input}

    async def double(ctx):
        await asyncio.sleep(0)
        order.append("double")
        return {"n": ctx.prev["n"] * 2}

    async def on_step_complete(event):
        await asyncio.sleep(0.02)
        order.append(f"hook:{event.step_name}")

    async def on_run_complete(event):
        order.append(f"done:{event.output}")

    wf = create_workflow("async").step("fetch", fetch).step("double", double)
    hooks = Hooks(on_step_complete=on_step_complete, on_run_complete=on_run_complete)
    engine = harness.engine([wf], hooks=hooks)

    async def main():
        run = await engine.aio.enqueue(wf, 21)
        await engine.aio.tick()
        return await engine.aio.get_run_status(run.id)

    info = asyncio.run(main())
    assert info.run.status == RunStatus.COMPLETED
    assert info.step("double").output == {"n": 42}
    assert order == ["fetch", "hook:fetch", "double", "hook:double", "done:{'n': 42}"]


def test_the_awaitable_twins_behave_like_their_methods(harness):
    wf = create_workflow("twins").wait_for_event("go").step("after", lambda ctx: ctx.prev)
    engine = harness.engine([wf])

    async def main():
        run = await engine.aio.enqueue(wf, None, idempotency_key="k")
        assert (await engine.aio.enqueue(wf, None, idempotency_key="k")).id == run.id
        assert await engine.aio.tick() == 1
        assert await engine.aio.send_event(run.id, "go", {"ok": 1}) is True
        assert await engine.aio.tick() == 1
        listed = await engine.aio.list_runs(status="completed")
        assert [r.id for r in listed] == [run.id]
        assert await engine.aio.cancel(run.id) is False
        assert await engine.aio.resume(run.id) is False
        with pytest.raises(RunNotFoundError):
            await engine.aio.wait("no-such-run")
        other = await engine.aio.enqueue(wf, None)
        with pytest.raises(TimeoutError):
            await engine.aio.wait(other.id, timeout=0.1)
        return await engine.aio.wait(run.id, timeout=1)

    info = asyncio.run(main())
    assert info.step("after").output == {"ok": 1}
