"""``engine.cancel``: which runs it cancels, the in-flight step's signal, late results
that are never persisted, prompt ticks, cancellation during a retry delay, no failure
reporting, and cancelling a run that executes on another engine sharing the SQLite file
(reflow-ts §14 CN-1..CN-9, ST-6, ST-12; API.md ``cancel``).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reflow_actors import Retry, VirtualClock, create_workflow
from reflow_actors.errors import LeaseExpiredError, RunCancelledError
from reflow_actors.records import RunStatus

from .conftest import Recorder, wait_until


@pytest.mark.timeout(10)
def test_cancel_returns_true_for_live_runs_and_false_for_terminal_or_unknown(rt):
    clock = VirtualClock()
    storage = rt.memory(clock=clock)
    sleepy = (
        create_workflow("sleepy")
        .step("a", lambda ctx: 1)
        .sleep("nap", "1h")
        .step("b", lambda ctx: 2)
    )
    waiting = create_workflow("waiting").wait_for_event("go").step("b", lambda ctx: 2)
    plain = create_workflow("plain").step("a", lambda ctx: 1)
    failing = create_workflow("failing").step("a", lambda ctx: 1 / 0)
    engine = rt.engine(storage, [sleepy, waiting, plain, failing], clock=clock)

    pending = engine.enqueue(plain, None)
    assert engine.cancel(pending.id) is True
    assert engine.get_run_status(pending.id).run.status == "cancelled"
    assert engine.cancel(pending.id) is False  # already cancelled

    forced = engine.enqueue(plain, None)
    storage.update_run_status(forced.id, RunStatus.RUNNING)
    assert engine.cancel(forced.id) is True

    sleeping = engine.enqueue(sleepy, None)
    engine.tick()
    assert engine.get_run_status(sleeping.id).run.status == "sleeping"
    assert engine.cancel(sleeping.id) is True

    waiter = engine.enqueue(waiting, None)
    engine.tick()
    assert engine.get_run_status(waiter.id).run.status == "waiting"
    assert engine.cancel(waiter.id) is True
    assert engine.send_event(waiter.id, "go") is False

    completed = engine.enqueue(plain, None)
    failed = engine.enqueue(failing, None)
    while engine.tick():
        pass
    assert engine.get_run_status(completed.id).run.status == "completed"
    assert engine.get_run_status(failed.id).run.status == "failed"
    assert engine.cancel(completed.id) is False
    assert engine.cancel(failed.id) is False
    assert engine.cancel("no-such-run") is False

    clock.advance(3601)  # the cancelled sleeper's wake time passes: it never resumes
    assert engine.tick() == 0
    info = engine.get_run_status(sleeping.id)
    assert info.run.status == "cancelled"
    assert info.step("b") is None


@pytest.mark.timeout(10)
def test_a_cancelled_run_is_never_claimed(rt):
    calls: list[Any] = []
    wf = create_workflow("never").step("a", calls.append)
    engine = rt.engine(rt.memory(), [wf])
    run = engine.enqueue(wf, None)
    assert engine.cancel(run.id) is True
    assert engine.tick() == 0
    assert calls == []
    assert engine.get_run_status(run.id).steps == []


@pytest.mark.timeout(10)
def test_cancel_aborts_the_running_steps_signal_and_no_later_step_starts(rt):
    entered = threading.Event()
    seen: dict[str, Any] = {}
    after: list[Any] = []

    def slow(ctx):
        entered.set()
        seen["aborted"] = ctx.signal.wait(10)
        seen["reason"] = ctx.signal.reason
        ctx.signal.throw_if_aborted()
        return "finished"

    wf = create_workflow("cancel-me").step("slow", slow).step("after", after.append)
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert entered.wait(5)
    assert engine.cancel(run.id) is True
    assert tick.result(timeout=2) == 1
    wait_until(lambda: "reason" in seen)
    assert seen["aborted"] is True
    assert isinstance(seen["reason"], RunCancelledError)
    info = engine.get_run_status(run.id)
    assert info.run.status == "cancelled"
    assert info.step("slow").status not in ("completed", "failed")
    assert info.step("after") is None
    assert after == []
    assert recorder.of("step_complete") == []
    assert recorder.of("run_failed") == []


@pytest.mark.timeout(10)
def test_a_late_result_of_a_handler_that_ignores_cancel_is_never_persisted(rt):
    entered = threading.Event()
    release = rt.gate()
    returned = threading.Event()
    after: list[Any] = []

    def stubborn(ctx):
        entered.set()
        release.wait(10)  # ignores its signal
        returned.set()
        return {"late": True}

    wf = create_workflow("stubborn").step("stubborn", stubborn).step("after", after.append)
    storage = rt.sqlite()
    engine = rt.engine(storage, [wf])
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert entered.wait(5)
    assert engine.cancel(run.id) is True
    assert tick.result(timeout=2) == 1  # promptly, while the handler still runs
    assert not returned.is_set()
    release.set()
    assert returned.wait(5)
    engine.stop(timeout=5)  # joins the worker, so its late result has been handled
    info = engine.get_run_status(run.id)
    assert info.run.status == "cancelled"
    row = info.step("stubborn")
    assert row.status != "completed"
    assert row.output is None
    assert info.step("after") is None
    assert after == []


@pytest.mark.timeout(10)
def test_cancel_during_a_retry_delay_stops_at_once_without_another_attempt(rt):
    calls: list[int] = []
    storage = rt.memory()

    def flaky(ctx):
        calls.append(ctx.attempt)
        raise RuntimeError("transient")

    wf = create_workflow("backoff").step(
        "flaky", flaky, retry=Retry(max_attempts=3, backoff="fixed", initial_delay=30)
    )
    engine = rt.engine(storage, [wf])
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)

    def in_retry_delay():
        rows = storage.get_step_results(run.id)
        return rows and rows[0].attempts == 2  # attempt 2 marked; its delay running

    wait_until(in_retry_delay, message="the retry delay to begin")
    assert engine.cancel(run.id) is True
    assert tick.result(timeout=2) == 1  # not 30 s later
    assert calls == [1]
    info = engine.get_run_status(run.id)
    assert info.run.status == "cancelled"
    assert [row.status for row in info.steps] == ["running"]  # no failed row


@pytest.mark.timeout(10)
def test_cancelling_is_not_a_failure(rt):
    entered = threading.Event()
    failures: list[Any] = []

    def slow(ctx):
        entered.set()
        ctx.signal.wait(10)
        raise RuntimeError("stopping because cancelled")

    wf = create_workflow("not-a-failure").step("slow", slow).on_failure(failures.append)
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    with engine.stream() as stream:
        run = engine.enqueue(wf, None)
        tick = rt.bg(engine.tick)
        assert entered.wait(5)
        engine.cancel(run.id)
        tick.result(timeout=2)
        engine.stop(timeout=5)
        streamed = [event.type for event in stream]
    assert failures == []
    assert "run_failed" not in recorder.types()
    assert "run_failed" not in streamed
    assert engine.get_run_status(run.id).run.status == "cancelled"


def _two_engines(rt, wf_a, wf_b, **options):
    first = rt.engine(rt.sqlite(), [wf_a], **options)
    second = rt.engine(rt.sqlite(), [wf_b])
    return first, second


@pytest.mark.timeout(10)
def test_a_run_cancelled_by_another_engine_halts_at_its_next_heartbeat(rt):
    entered = threading.Event()
    seen: dict[str, Any] = {}
    after: list[Any] = []

    def slow(ctx):
        entered.set()
        ctx.signal.wait(10)
        seen["reason"] = ctx.signal.reason
        return "should not be saved"

    wf = create_workflow("remote").step("slow", slow).step("after", after.append)
    executing, controlling = _two_engines(rt, wf, wf, lease_duration=2, heartbeat_interval=0.05)
    run = executing.enqueue(wf, None)
    tick = rt.bg(executing.tick)
    assert entered.wait(5)
    assert controlling.cancel(run.id) is True
    assert tick.result(timeout=3) == 1
    wait_until(lambda: "reason" in seen)
    assert isinstance(seen["reason"], LeaseExpiredError)
    info = controlling.get_run_status(run.id)
    assert info.run.status == "cancelled"
    assert info.step("slow").status not in ("completed", "failed")
    assert info.step("after") is None
    assert after == []


@pytest.mark.timeout(10)
def test_a_run_cancelled_by_another_engine_halts_at_its_next_write(rt):
    entered = threading.Event()
    proceed = rt.gate()
    after: list[Any] = []

    def step(ctx):
        entered.set()
        proceed.wait(10)
        return "should not be saved"

    wf = create_workflow("remote-write").step("first", step).step("after", after.append)
    recorder = Recorder()
    executing, controlling = _two_engines(
        rt, wf, wf, lease_duration=60, heartbeat_interval=30, hooks=recorder.hooks()
    )
    run = executing.enqueue(wf, None)
    tick = rt.bg(executing.tick)
    assert entered.wait(5)
    assert controlling.cancel(run.id) is True
    proceed.set()  # the handler returns; saving its result must be refused
    assert tick.result(timeout=3) == 1
    info = controlling.get_run_status(run.id)
    assert info.run.status == "cancelled"
    assert info.step("first").status != "completed"
    assert info.step("first").output is None
    assert info.step("after") is None
    assert after == []
    assert recorder.of("step_complete") == []
    assert recorder.of("run_failed") == []
