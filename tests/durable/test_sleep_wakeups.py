"""Resuming sleeping runs: in-process wake-ups of a started engine, and claims that race.

A started engine knows when each run it parked is due and claims it then, with
no poll: on a virtual clock as soon as the clock gets there, on the real clock
right after a short sleep (poll 60 s), and as soon as a busy slot frees if the
run came due while every slot was taken. Engines racing to resume a due sleep
resume it once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from reflow_actors import (
    RunStatus,
    SystemClock,
    create_workflow,
)
from tests.durable.conftest import (
    HOUR,
    Durable,
    cooldown_workflow,
    row,
    status_of,
    wait_until,
)


@pytest.mark.timeout(15)
def test_a_started_engine_resumes_a_due_sleep_on_the_virtual_clock_without_a_tick(
    durable: Durable,
) -> None:
    calls: list[str] = []
    workflow = cooldown_workflow(calls)
    engine = durable.engine(durable.memory(), [workflow])
    engine.start(poll_interval=7 * 24 * HOUR)  # the poll never comes in this test
    run = engine.enqueue(workflow, None)
    wait_until(
        lambda: status_of(engine, run.id) is RunStatus.SLEEPING,
        message="the run to go to sleep",
    )
    durable.clock.advance(HOUR)
    info = engine.wait(run.id, timeout=5)
    assert info.run.status is RunStatus.COMPLETED
    assert calls == ["a", "b"]


@pytest.mark.timeout(15)
def test_a_started_engine_wakes_a_real_sleep_long_before_its_poll(durable: Durable) -> None:
    real = SystemClock()
    poll_interval = 60.0
    resumed_at: list[float] = []

    def after(ctx: Any) -> Any:
        resumed_at.append(time.monotonic())
        return ctx.prev

    workflow = (
        create_workflow("short-nap")
        .step("before", lambda ctx: "x")
        .sleep("nap", 0.3)
        .step("after", after)
    )
    engine = durable.engine(durable.memory(clock=real), [workflow], clock=real)
    engine.start(poll_interval=poll_interval)
    started = time.monotonic()
    run = engine.enqueue(workflow, None)

    info = engine.wait(run.id, timeout=5)
    elapsed = time.monotonic() - started
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "after").output == "x"
    assert resumed_at[0] - started >= 0.3  # it really slept
    assert elapsed < 5 < poll_interval  # ... and was not left for the poll


@pytest.mark.timeout(15)
def test_concurrent_engines_resume_a_due_sleep_exactly_once(durable: Durable) -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def b(ctx: Any) -> Any:
        with lock:
            calls.append("b")
        return "b"

    workflow = create_workflow("shared-nap").sleep("nap", "1h").step("b", b)
    engines = [durable.engine(durable.sqlite("nap.db"), [workflow]) for _ in range(3)]
    run = engines[0].enqueue(workflow, None)
    engines[0].tick()
    durable.clock.advance(HOUR)

    claims: list[int] = []
    threads = [threading.Thread(target=lambda e=e: claims.append(e.tick())) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(claims) == [0, 0, 1]
    assert calls == ["b"]
    assert status_of(engines[1], run.id) is RunStatus.COMPLETED


@pytest.mark.timeout(15)
def test_a_started_engine_resumes_a_due_sleep_as_soon_as_a_busy_slot_frees(
    durable: Durable,
) -> None:
    release = threading.Event()
    calls: list[str] = []
    sleeper = cooldown_workflow(calls)
    busy = create_workflow("busy").step("hold", lambda ctx: release.wait(10))
    engine = durable.engine(durable.memory(), [sleeper, busy], concurrency=1)
    engine.start(poll_interval=7 * 24 * HOUR)
    sleeping = engine.enqueue(sleeper, None)
    wait_until(lambda: status_of(engine, sleeping.id) is RunStatus.SLEEPING, message="sleep")
    holder = engine.enqueue(busy, None)
    wait_until(lambda: status_of(engine, holder.id) is RunStatus.RUNNING, message="busy run")

    durable.clock.advance(HOUR)  # due now, but the only slot is taken
    assert status_of(engine, sleeping.id) is RunStatus.SLEEPING
    release.set()
    assert engine.wait(holder.id, timeout=5).run.status is RunStatus.COMPLETED
    assert engine.wait(sleeping.id, timeout=5).run.status is RunStatus.COMPLETED
    assert calls == ["a", "b"]
