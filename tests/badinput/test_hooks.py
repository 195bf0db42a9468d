"""A hook that raises, or hangs.

A raising hook (sync or async) never changes a run: the error reaches
``on_error`` as ``HookError`` naming the hook, with the original as
``__cause__``, and the run completes with every output.

A hanging lifecycle hook holds its run where it is (the engine waits for
hooks, in order): the step before it is already persisted, no later step
starts, and the lease keeps being renewed, so no other engine takes the run.
``cancel`` interrupts it (the run is cancelled, nothing more runs) and so does
``stop`` (the run stays ``running`` and any engine reclaims it after the
lease, without re-running the persisted step). ``on_error`` is not awaited: a
hanging ``on_error`` does not hold the run.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from reflow_actors import Hooks, create_workflow
from reflow_actors.errors import HookError

from .conftest import wait_until


def _two_steps(calls):
    def first(ctx):
        calls.append("first")
        return {"n": 1}

    def second(ctx):
        calls.append("second")
        return {"n": 2}

    return create_workflow("two").step("first", first).step("second", second)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("style", ["sync", "async"])
def test_a_raising_hook_becomes_a_hook_error_and_the_run_completes(bench, style):
    def broken(event):
        raise ValueError(f"hook broke at {event.step_name}")

    async def broken_async(event):
        await asyncio.sleep(0)
        broken(event)

    calls: list[str] = []
    workflow = _two_steps(calls)
    hook = broken if style == "sync" else broken_async
    engine = bench.engine(
        bench.sqlite(), [workflow], hooks=Hooks(on_step_complete=hook, on_error=bench.errors)
    )
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert [s.output for s in info.steps] == [{"n": 1}, {"n": 2}]
    errors = wait_until(lambda: len(bench.errors.seen) == 2 and bench.errors.seen)
    assert all(isinstance(error, HookError) for error in errors)
    assert {error.source for error in errors} == {"on_step_complete hook"}
    assert sorted(str(error.__cause__) for error in errors) == [
        "hook broke at first",
        "hook broke at second",
    ]


class HangingHook:
    """An ``on_step_complete`` hook that hangs for one run, until the test lets it go."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.entered = threading.Event()
        self.run_id: str | None = None

    def __call__(self, event) -> None:
        if event.run_id == self.run_id and event.step_name == "first":
            self.entered.set()
            self.release.wait(60)


def _hung(bench, storage, **options):
    calls: list[str] = []
    workflow = _two_steps(calls)
    hook = HangingHook(bench.gate())
    engine = bench.engine(
        storage, [workflow], hooks=Hooks(on_step_complete=hook, on_error=bench.errors), **options
    )
    run = engine.enqueue(workflow, None)
    hook.run_id = run.id
    engine.start(poll_interval=0.05)
    assert hook.entered.wait(5), "the hook never ran"
    return engine, workflow, run, calls


def _held_at_first(engine, run_id):
    info = engine.get_run_status(run_id)
    assert info.run.status == "running"
    first = info.step("first")
    assert (first.status, first.output) == ("completed", {"n": 1})
    return info


@pytest.mark.timeout(15)
def test_a_hanging_hook_holds_the_run_and_keeps_its_lease(bench):
    storage = bench.sqlite()
    engine, workflow, run, calls = _hung(bench, storage, lease_duration=0.6, heartbeat_interval=0.1)
    held = _held_at_first(engine, run.id)
    # Renewals go on past several lease durations...
    wait_until(
        lambda: engine.get_run_status(run.id).run.updated_at > held.run.updated_at + 1800,
        timeout=5,
        what="the lease to be renewed for three lease durations",
    )
    # ...so another engine finds nothing stale to take.
    other = bench.engine(bench.sqlite(), [workflow], lease_duration=0.6, heartbeat_interval=0.1)
    assert other.tick() == 0
    _held_at_first(engine, run.id)
    assert calls == ["first"]


@pytest.mark.timeout(15)
def test_cancel_interrupts_a_hanging_hook_and_nothing_more_runs(bench):
    engine, workflow, run, calls = _hung(bench, bench.memory())
    _held_at_first(engine, run.id)
    assert engine.cancel(run.id) is True
    info = engine.wait(run.id, timeout=5)
    assert info.run.status == "cancelled"
    later = engine.enqueue(workflow, None)  # the engine is free for other runs
    assert engine.wait(later.id, timeout=5).run.status == "completed"
    # The cancelled run's "second" row is only the attempt marker written with "first".
    second = engine.get_run_status(run.id).step("second")
    assert (second.status, second.output) == ("running", None)
    assert calls == ["first", "first", "second"], "the cancelled run's second step never ran"


@pytest.mark.timeout(20)
def test_stop_interrupts_a_hanging_hook_and_another_engine_finishes_the_run(bench):
    storage = bench.sqlite()
    engine, workflow, run, calls = _hung(bench, storage, lease_duration=0.5, heartbeat_interval=0.1)
    _held_at_first(engine, run.id)
    started = time.monotonic()
    engine.stop(timeout=10)
    assert time.monotonic() - started < 5, "stop waited for the hanging hook"
    _held_at_first(engine, run.id)

    successor = bench.engine(bench.sqlite(), [workflow], lease_duration=0.5, heartbeat_interval=0.1)
    successor.start(poll_interval=0.05)
    info = successor.wait(run.id, timeout=10)
    assert info.run.status == "completed"
    assert [s.output for s in info.steps] == [{"n": 1}, {"n": 2}]
    assert calls == ["first", "second"], "the persisted step did not run again"


@pytest.mark.timeout(15)
def test_a_hanging_on_error_hook_does_not_hold_the_run(bench):
    release = bench.gate()
    reported = threading.Event()

    def on_error(error):
        reported.set()
        release.wait(60)

    def broken(event):
        raise ValueError("report me")

    calls: list[str] = []
    workflow = _two_steps(calls)
    engine = bench.engine(
        bench.memory(), [workflow], hooks=Hooks(on_step_complete=broken, on_error=on_error)
    )
    engine.start(poll_interval=0.05)
    run = engine.enqueue(workflow, None)
    assert engine.wait(run.id, timeout=5).run.status == "completed"
    assert reported.wait(5)
    release.set()  # this test is about the run; stop() with a hanging on_error is below


@pytest.mark.timeout(20)
def test_stop_does_not_wait_for_a_hanging_on_error_hook(bench):
    release = bench.gate()
    reported = threading.Event()

    def on_error(error):
        reported.set()
        release.wait(60)

    def broken(event):
        raise ValueError("report me")

    calls: list[str] = []
    workflow = _two_steps(calls)
    engine = bench.engine(
        bench.memory(), [workflow], hooks=Hooks(on_step_complete=broken, on_error=on_error)
    )
    engine.start(poll_interval=0.05)
    run = engine.enqueue(workflow, None)
    assert engine.wait(run.id, timeout=5).run.status == "completed"
    assert reported.wait(5)
    stopper = threading.Thread(target=engine.stop, name="test-stop", daemon=True)
    stopper.start()
    try:
        stopper.join(3)
        assert not stopper.is_alive(), "stop() is still waiting for the hanging on_error hook"
    finally:
        release.set()
        stopper.join(10)
