"""Engines on ``PostgresStorage``: workflows end to end, several engines, LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from reflow_actors import (
    Engine,
    RunStatus,
    StepStatus,
    VirtualClock,
    Workflow,
    create_engine,
    create_workflow,
)
from tests.postgres.conftest import wait_until

pytestmark = [pytest.mark.postgres]

START = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
HOUR = 3600.0


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.stop(timeout=10)


@pytest.fixture
def make_engine(make_storage: Callable[..., Any], engines: list[Engine]) -> Callable[..., Engine]:
    """An engine on its own ``PostgresStorage`` instance (its own pool) on the test schema."""

    def make(workflows: list[Workflow[Any, Any]], *, clock: Any = None, **options: Any) -> Engine:
        storage = make_storage(clock=clock)
        engine = create_engine(storage=storage, workflows=workflows, clock=clock, **options)
        engines.append(engine)
        return engine

    return make


@pytest.mark.timeout(30)
def test_steps_and_a_parallel_group_complete(make_engine: Callable[..., Engine]) -> None:
    seen: list[Any] = []

    def merge(ctx: Any) -> Any:
        seen.append(ctx.prev)
        return {"total": ctx.prev["x"] + ctx.prev["y"], "first": ctx.steps["first"]}

    workflow = (
        create_workflow("flow")
        .step("first", lambda ctx: {"n": ctx.input["n"]})
        .parallel({"x": lambda ctx: ctx.prev["n"] * 2, "y": lambda ctx: ctx.prev["n"] * 3})
        .step("merge", merge)
    )
    engine = make_engine([workflow], concurrency=4)
    engine.start(poll_interval=0.2)
    run = engine.enqueue(workflow, {"n": 5})
    info = engine.wait(run.id, timeout=15)
    assert info.run.status is RunStatus.COMPLETED
    outputs = {row.name: row.output for row in info.steps}
    assert outputs == {
        "first": {"n": 5},
        "x": 10,
        "y": 15,
        "merge": {"total": 25, "first": {"n": 5}},
    }
    assert seen == [{"x": 10, "y": 15}]
    names = [row.name for row in info.steps]
    assert (names[0], sorted(names[1:3]), names[3]) == ("first", ["x", "y"], "merge")


@pytest.mark.timeout(30)
def test_a_failing_step_fails_the_run_and_resume_reruns_only_it(
    make_engine: Callable[..., Engine],
) -> None:
    calls: list[str] = []
    broken = threading.Event()
    broken.set()

    def flaky(ctx: Any) -> str:
        calls.append("flaky")
        if broken.is_set():
            raise ValueError("not yet")
        return "fixed"

    workflow = (
        create_workflow("resumable").step("ok", lambda c: calls.append("ok")).step("flaky", flaky)
    )
    engine = make_engine([workflow])
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    info = engine.wait(run.id, timeout=5)
    assert info.run.status is RunStatus.FAILED
    failed = info.step("flaky")
    assert failed is not None
    assert failed.error == "ValueError: not yet"
    broken.clear()
    assert engine.resume(run.id) is True
    assert engine.tick() == 1
    info = engine.wait(run.id, timeout=5)
    assert info.run.status is RunStatus.COMPLETED
    assert calls == ["ok", "flaky", "flaky"]


@pytest.mark.timeout(30)
def test_a_durable_sleep_on_a_virtual_clock(make_engine: Callable[..., Engine]) -> None:
    clock = VirtualClock(START)
    workflow = (
        create_workflow("nap")
        .step("before", lambda ctx: "a")
        .sleep("nap", "1h")
        .step("after", lambda ctx: ctx.prev)
    )
    engine = make_engine([workflow], clock=clock)
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info is not None
    assert info.run.status is RunStatus.SLEEPING
    assert info.run.created_at == int(
        START.timestamp() * 1000
    )  # the adapter's clock, not the server's
    nap = info.step("nap")
    assert nap is not None
    assert nap.status is StepStatus.SLEEPING
    assert nap.output == int(START.timestamp() * 1000) + 3_600_000

    assert engine.tick() == 0  # not due yet: storage compares with the virtual time
    clock.advance(HOUR)
    assert engine.tick() == 1
    info = engine.wait(run.id, timeout=5)
    assert info.run.status is RunStatus.COMPLETED
    assert [(row.name, row.status) for row in info.steps] == [
        ("before", StepStatus.COMPLETED),
        ("nap", StepStatus.COMPLETED),
        ("after", StepStatus.COMPLETED),
    ]
    after = info.step("after")
    assert after is not None
    assert after.output == "a"  # prev passes through the sleep


@pytest.mark.timeout(30)
def test_wait_for_event_is_woken_by_an_event_sent_from_another_engine(
    make_engine: Callable[..., Engine],
) -> None:
    workflow = (
        create_workflow("approval")
        .step("ask", lambda ctx: "asked")
        .wait_for_event("approved")
        .step("act", lambda ctx: {"approved_by": ctx.prev["by"]})
    )
    worker = make_engine([workflow])
    worker.start(poll_interval=60)  # only a NOTIFY can wake it within this test
    run = worker.enqueue(workflow, None)
    wait_until(
        lambda: worker.get_run_status(run.id).run.status is RunStatus.WAITING,  # type: ignore[union-attr]
        what="the run to wait for its event",
    )
    sender = make_engine([workflow])  # another process, in effect: its own pool, never started
    assert sender.send_event(run.id, "approved", {"by": "ada"}) is True
    info = sender.wait(run.id, timeout=5)
    assert info.run.status is RunStatus.COMPLETED
    act = info.step("act")
    assert act is not None
    assert act.output == {"approved_by": "ada"}


@pytest.mark.timeout(30)
def test_an_event_sent_before_the_wait_is_buffered(make_engine: Callable[..., Engine]) -> None:
    gate = threading.Event()
    workflow = (
        create_workflow("early")
        .step("slow", lambda ctx: gate.wait(10))
        .wait_for_event("go")
        .step("done", lambda ctx: ctx.prev)
    )
    engine = make_engine([workflow])
    engine.start(poll_interval=60)
    run = engine.enqueue(workflow, None)
    wait_until(
        lambda: engine.get_run_status(run.id).run.status is RunStatus.RUNNING,  # type: ignore[union-attr]
        what="the run to start",
    )
    assert make_engine([workflow]).send_event(run.id, "go", {"early": True}) is True
    gate.set()
    info = engine.wait(run.id, timeout=10)
    assert info.run.status is RunStatus.COMPLETED
    done = info.step("done")
    assert done is not None
    assert done.output == {"early": True}


@pytest.mark.timeout(30)
def test_an_enqueue_on_one_engine_wakes_another_without_waiting_for_its_poll(
    make_engine: Callable[..., Engine],
) -> None:
    executed_by: list[str] = []

    def work(name: str) -> Callable[[Any], str]:
        def handler(ctx: Any) -> str:
            executed_by.append(name)
            return name

        return handler

    idle = make_engine([create_workflow("job").step("work", work("B"))])
    idle.start(poll_interval=60)  # its own poll would come far too late
    producer = make_engine([create_workflow("job").step("work", work("A"))])  # not started
    for attempt in range(3):  # three separate wake-ups, not one lucky poll
        run = producer.enqueue("job", {"attempt": attempt})
        info = producer.wait(run.id, timeout=3)
        assert info.run.status is RunStatus.COMPLETED
    assert executed_by == ["B", "B", "B"]


@pytest.mark.timeout(60)
def test_a_schedule_fires_once_per_occurrence_across_three_engines(
    make_engine: Callable[..., Engine],
) -> None:
    clock = VirtualClock(START)
    calls: list[Any] = []
    lock = threading.Lock()

    def record(ctx: Any) -> None:
        with lock:
            calls.append(ctx.run_id)

    workflow = create_workflow("nightly").step("work", record)
    engines = [make_engine([workflow], clock=clock, concurrency=2) for _ in range(3)]
    key = engines[0].schedule(workflow, {"scope": "all"}, every="1h")
    assert engines[1].schedule(workflow, {"scope": "all"}, every="1h") == key  # same key, kept

    occurrences = 5
    for _ in range(occurrences):
        clock.advance(HOUR)
        barrier = threading.Barrier(len(engines), timeout=10)
        ticked: list[int] = []

        def tick(
            engine: Engine, barrier: threading.Barrier = barrier, ticked: list[int] = ticked
        ) -> None:
            barrier.wait()
            ticked.append(engine.tick())

        threads = [threading.Thread(target=tick, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert sum(ticked) == 1, f"one run per occurrence, got {ticked}"

    runs = engines[0].list_runs(workflow="nightly")
    assert len(runs) == occurrences
    assert {run.status for run in runs} == {RunStatus.COMPLETED}
    assert len(calls) == occurrences
    (schedule,) = engines[2].list_schedules()
    assert schedule.next_run_at == int(START.timestamp() * 1000) + (occurrences + 1) * 3_600_000
