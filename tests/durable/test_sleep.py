"""Durable sleep (reflow-ts §16 SL): ``.sleep(name, duration)`` parks a run in storage.

The run is persisted ``sleeping`` with its lease released and its slot freed,
the sleep is visible as a step row (``sleeping`` → ``completed``), ``prev``
passes through, and any engine resumes it from storage once it is due, never
before, keeping the wake time it persisted. Time is a frozen ``VirtualClock``.
In-process wake-ups of a started engine: test_sleep_wakeups.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from reflow_actors import (
    RunComplete,
    RunStatus,
    StepComplete,
    StepStatus,
    create_workflow,
)
from reflow_actors.errors import ConfigError
from tests.durable.conftest import (
    HOUR,
    START_MS,
    Durable,
    cooldown_workflow,
    describe,
    drain,
    info_of,
    intercept,
    row,
    status_of,
)


@pytest.mark.timeout(20)
def test_a_sleep_suspends_the_run_and_resumes_it_once_due(
    durable: Durable, storage_kind: str
) -> None:
    calls: list[str] = []
    steps_seen: list[list[str]] = []
    workflow = cooldown_workflow(calls, steps_seen=steps_seen)
    engine = durable.engine(durable.storage(storage_kind), [workflow])
    run = engine.enqueue(workflow, None)

    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.SLEEPING
    assert info.run.created_at == START_MS  # storage stamps times from the engine's clock
    cooldown = info.step("cooldown")
    assert cooldown is not None
    assert cooldown.status is StepStatus.SLEEPING
    assert cooldown.output == START_MS + 3_600_000  # the wake time, read from the clock
    assert info.step("b") is None
    assert calls == ["a"]

    assert engine.tick() == 0  # not due: nothing claims it
    durable.clock.advance(HOUR - 0.001)
    assert engine.tick() == 0
    assert status_of(engine, run.id) is RunStatus.SLEEPING

    durable.clock.advance(0.001)
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert [(s.name, s.status) for s in info.steps] == [
        ("a", StepStatus.COMPLETED),
        ("cooldown", StepStatus.COMPLETED),
        ("b", StepStatus.COMPLETED),
    ]
    cooldown = info.step("cooldown")
    assert cooldown is not None
    assert (cooldown.output, cooldown.error, cooldown.attempts) == (None, None, 0)
    assert cooldown.updated_at == START_MS + 3_600_000
    assert row(info, "b").output == {"prev": {"from": "a"}}
    assert row(info, "b").created_at == START_MS + 3_600_000
    assert calls == ["a", "b"]  # the step before the sleep never ran again
    assert steps_seen == [["a"]]  # a sleep has no output and is not in ctx.steps


@pytest.mark.timeout(10)
@pytest.mark.parametrize("duration", ["90m", timedelta(minutes=90), 5400, 5400.0])
def test_every_duration_form_sets_the_same_wake_time(durable: Durable, duration: Any) -> None:
    workflow = create_workflow("nap").sleep("nap", duration).step("after", lambda ctx: 1)
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    info = info_of(engine, run.id)
    assert row(info, "nap").output == START_MS + 5_400_000


def test_an_invalid_sleep_duration_is_refused_when_the_workflow_is_built() -> None:
    with pytest.raises(ConfigError):
        create_workflow("bad").sleep("nap", "soon")
    with pytest.raises(ConfigError):
        create_workflow("bad").sleep("nap", -1)


@pytest.mark.timeout(10)
def test_a_sleeping_run_releases_its_slot_to_other_runs(durable: Durable) -> None:
    calls: list[str] = []
    sleeper = cooldown_workflow(calls)
    quick = create_workflow("quick").step("only", lambda ctx: "done")
    engine = durable.engine(durable.memory(), [sleeper, quick], concurrency=1)
    sleeping = engine.enqueue(sleeper, None)
    assert engine.tick() == 1
    other = engine.enqueue(quick, None)

    assert engine.tick() == 1  # the one slot is free although the first run is unfinished
    assert status_of(engine, other.id) is RunStatus.COMPLETED
    assert status_of(engine, sleeping.id) is RunStatus.SLEEPING


@pytest.mark.timeout(10)
def test_resuming_from_a_sleep_emits_run_start_again_and_completes_the_sleep_once(
    durable: Durable,
) -> None:
    calls: list[str] = []
    workflow = cooldown_workflow(calls)
    engine = durable.engine(durable.memory(), [workflow])
    stream = durable.stream(engine)
    run = engine.enqueue(workflow, None)
    engine.tick()
    first = drain(stream)
    assert describe(first) == [
        ("run_start", None),
        ("step_start", "a"),
        ("step_complete", "a"),
        ("step_start", "cooldown"),
    ]

    durable.clock.advance(HOUR)
    engine.tick()
    resumed = drain(stream)
    assert describe(resumed) == [
        ("run_start", None),  # a new execution of the run
        ("step_complete", "cooldown"),  # no second step_start for the sleep
        ("step_start", "b"),
        ("step_complete", "b"),
        ("run_complete", None),
    ]
    assert all(event.run_id == run.id for event in first + resumed)
    sleep_done, run_done = resumed[1], resumed[-1]
    assert isinstance(sleep_done, StepComplete)
    assert (sleep_done.output, sleep_done.attempts) == (None, 0)
    assert isinstance(run_done, RunComplete)
    assert run_done.output == {"prev": {"from": "a"}}


@pytest.mark.timeout(10)
def test_a_zero_length_sleep_completes_in_the_same_tick_without_suspending(
    durable: Durable,
) -> None:
    calls: list[str] = []
    workflow = cooldown_workflow(calls, sleep=0)
    engine = durable.engine(durable.memory(), [workflow])
    stream = durable.stream(engine)
    run = engine.enqueue(workflow, None)

    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "cooldown").status is StepStatus.COMPLETED
    assert calls == ["a", "b"]
    assert ("step_start", "cooldown") in describe(drain(stream))


@pytest.mark.timeout(10)
def test_a_sleep_as_the_first_unit_leaves_prev_none(durable: Durable) -> None:
    seen: list[Any] = []
    workflow = (
        create_workflow("first-sleep")
        .sleep("wait-a-bit", "10m")
        .step("after", lambda ctx: seen.append(ctx.prev))
    )
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, {"x": 1})
    engine.tick()
    durable.clock.advance(600)
    engine.tick()
    assert status_of(engine, run.id) is RunStatus.COMPLETED
    assert seen == [None]


@pytest.mark.timeout(15)
def test_another_engine_on_the_same_file_resumes_a_sleeping_run(durable: Durable) -> None:
    calls: list[str] = []
    workflow = cooldown_workflow(calls, sleep="2h")
    first = durable.engine(durable.sqlite("shared.db"), [workflow])
    run = first.enqueue(workflow, None)
    first.tick()
    first.stop()

    second = durable.engine(durable.sqlite("shared.db"), [workflow])
    durable.clock.advance(2 * HOUR)
    assert second.tick() == 1
    info = info_of(second, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "b").output == {"prev": {"from": "a"}}  # prev rebuilt from storage
    assert calls == ["a", "b"]


@pytest.mark.timeout(10)
def test_a_cancelled_sleeping_run_never_resumes(durable: Durable) -> None:
    calls: list[str] = []
    workflow = cooldown_workflow(calls)
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()

    assert engine.cancel(run.id) is True
    durable.clock.advance(HOUR + 1)
    assert engine.tick() == 0
    assert status_of(engine, run.id) is RunStatus.CANCELLED
    assert calls == ["a"]
    assert engine.cancel(run.id) is False


@pytest.mark.timeout(15)
def test_a_reclaimed_sleep_keeps_its_persisted_wake_time(durable: Durable) -> None:
    """SL-3/SL-9: losing the lease while parking halts the run (no failure); the
    stale reclaim finds the ``sleeping`` row and keeps its wake time."""
    calls: list[str] = []
    failures: list[Any] = []
    workflow = cooldown_workflow(calls).on_failure(failures.append)
    inner = durable.memory()
    storage = intercept(inner)

    def steal_lease_then_sleep(call: Any, run_id: str, lease_id: str, wake_at: int) -> bool:
        del storage.around["sleep_run"]
        inner.update_run_status(run_id, RunStatus.RUNNING)  # another owner: lease gone
        return bool(call(run_id, lease_id, wake_at))

    storage.around["sleep_run"] = steal_lease_then_sleep
    engine = durable.engine(storage, [workflow], lease_duration=30)
    run = engine.enqueue(workflow, None)
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.RUNNING  # halted, not failed
    assert row(info, "cooldown").status is StepStatus.SLEEPING
    assert failures == []

    durable.clock.advance(31)  # the lease is stale now
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.SLEEPING
    assert row(info, "cooldown").output == START_MS + 3_600_000

    durable.clock.set(START_MS / 1000 + HOUR)
    assert engine.tick() == 1
    assert status_of(engine, run.id) is RunStatus.COMPLETED
    assert calls == ["a", "b"]


@pytest.mark.timeout(10)
def test_a_run_resumed_after_a_later_failure_does_not_sleep_again(durable: Durable) -> None:
    attempts: list[int] = []

    def fragile(ctx: Any) -> Any:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise RuntimeError("first run fails")
        return ctx.prev

    workflow = (
        create_workflow("sleep-then-fail")
        .step("a", lambda ctx: "A")
        .sleep("nap", "1h")
        .step("fragile", fragile)
    )
    engine = durable.engine(durable.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    durable.clock.advance(HOUR)
    engine.tick()
    assert status_of(engine, run.id) is RunStatus.FAILED

    assert engine.resume(run.id) is True
    assert engine.tick() == 1  # completes in this tick: the finished sleep is not re-served
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "nap").status is StepStatus.COMPLETED
    assert row(info, "fragile").output == "A"
