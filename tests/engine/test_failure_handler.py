"""``on_failure``: called once, after the run is marked failed, with what failed.

Covers API.md "Workflows" (``.on_failure``) and reflow-ts §12 FH: the handler
gets ``FailureContext(error, step_name, input, run_id)`` with the original
error, once per failed run (not per attempt); what it raises goes to
``on_error`` as ``HookError`` and never changes the run or ``tick()``; and a
cancellation never calls it.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import FailureContext, Retry, create_workflow
from reflow_actors.errors import HookError, RunCancelledError, StepTimeoutError
from reflow_actors.records import RunStatus

from .conftest import wait_until

pytestmark = pytest.mark.timeout(10)


class Boom(Exception):
    pass


def test_on_failure_is_called_once_with_the_error_step_input_and_run_id(harness):
    original = Boom("warehouse down")
    calls: list[FailureContext] = []
    status_seen: list[str] = []

    def broken(ctx):
        raise original

    wf = (
        create_workflow("saga")
        .step("reserve", lambda ctx: {"reserved": True})
        .step("fulfill", broken, retry=Retry(max_attempts=3, initial_delay=0))
        .step("notify", lambda ctx: "never")
    )

    def compensate(failure):
        calls.append(failure)
        status_seen.append(engine.get_run_status(failure.run_id).run.status)

    wf = wf.on_failure(compensate)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, {"order_id": "ORD_FAIL"})
    engine.tick()

    assert len(calls) == 1
    failure = calls[0]
    assert isinstance(failure, FailureContext)
    assert failure.error is original
    assert failure.step_name == "fulfill"
    assert failure.input == {"order_id": "ORD_FAIL"}
    assert failure.run_id == run.id
    # The run is already recorded failed when the handler runs.
    assert status_seen == [RunStatus.FAILED]
    assert engine.get_run_status(run.id).run.status == RunStatus.FAILED


def test_on_failure_is_not_called_for_a_successful_run(harness):
    calls: list = []
    wf = create_workflow("fine").step("a", lambda ctx: 1).on_failure(calls.append)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).run.status == RunStatus.COMPLETED
    assert calls == []


def test_on_failure_gets_the_step_timeout_error_of_a_timed_out_step(harness):
    calls: list = []
    wf = (
        create_workflow("slow-fail")
        .step("slow", lambda ctx: ctx.signal.wait(5), timeout=0.1)
        .on_failure(calls.append)
    )
    engine = harness.engine([wf])
    engine.enqueue(wf, None)
    engine.tick()
    (failure,) = calls
    assert isinstance(failure.error, StepTimeoutError)
    assert failure.step_name == "slow"


def test_an_async_on_failure_handler_is_awaited_before_tick_returns(harness):
    done = threading.Event()

    async def compensate(failure):
        done.set()

    wf = create_workflow("async-fh").step("a", lambda ctx: 1 / 0).on_failure(compensate)
    engine = harness.engine([wf])
    engine.enqueue(wf, None)
    engine.tick()
    assert done.is_set()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_raising_on_failure_goes_to_on_error_and_leaves_the_run_failed(
    harness, recorder, is_async
):
    problem = RuntimeError("compensation failed")

    def sync_handler(failure):
        raise problem

    async def async_handler(failure):
        raise problem

    wf = (
        create_workflow("fh-raises")
        .step("a", lambda ctx: 1 / 0)
        .on_failure(async_handler if is_async else sync_handler)
    )
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    assert engine.tick() == 1  # does not raise

    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    assert info.step("a").error == "ZeroDivisionError: division by zero"
    wait_until(lambda: recorder.errors)
    (error,) = recorder.errors
    assert isinstance(error, HookError)
    assert error.source == "on_failure handler"
    assert error.__cause__ is problem
    assert len(recorder.of_type("run_failed")) == 1


def test_cancelling_a_run_never_calls_on_failure(harness, recorder):
    calls: list = []
    entered = threading.Event()
    reasons: list = []

    def blocking(ctx):
        entered.set()
        ctx.signal.wait(5)
        reasons.append(ctx.signal.reason)
        ctx.signal.throw_if_aborted()

    later: list[int] = []
    wf = (
        create_workflow("cancelled")
        .step("slow", blocking)
        .step("later", lambda ctx: later.append(1))
        .on_failure(calls.append)
    )
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    ticking = harness.background(engine.tick)
    assert entered.wait(5)
    assert engine.cancel(run.id) is True
    assert ticking.result(timeout=5) == 1

    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.CANCELLED
    assert all(step.status != "failed" for step in info.steps)
    wait_until(lambda: reasons)
    assert isinstance(reasons[0], RunCancelledError)
    assert calls == []
    assert later == []
    assert recorder.of_type("run_failed") == []


def test_in_a_parallel_group_the_failing_branch_is_named_not_an_aborted_sibling(harness):
    calls: list = []

    def patient(ctx):
        ctx.signal.wait(5)
        ctx.signal.throw_if_aborted()
        return "never"

    def broken(ctx):
        raise Boom("branch broke")

    wf = (
        create_workflow("group-fail")
        .parallel({"patient": patient, "broken": broken})
        .on_failure(calls.append)
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    (failure,) = calls
    assert failure.step_name == "broken"
    assert str(failure.error) == "branch broke"
    info = engine.get_run_status(run.id)
    assert info.step("broken").error == "Boom: branch broke"
    assert info.step("patient").error.startswith("Aborted:")
