"""``ctx.complete(value)``: finish the run now, durably, skipping the remaining units.

Covers API.md "StepContext" (``complete``) and "Details the contract fixes"
(``completed-early`` saved before the run completes) and reflow-ts §10 CP: the
row is ``completed-early`` with the value, later steps never run, events are
``step_complete`` then ``run_complete`` carrying the value, ``on_failure`` is
not called; a ``completed-early`` row found on recovery finishes the run; and
inside a parallel branch ``complete()`` fails the run with
``ParallelCompleteError``.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import Retry, StepResult, StepStatus, VirtualClock, create_workflow
from reflow_actors.errors import ParallelCompleteError, SerializationError
from reflow_actors.records import RunStatus

from .conftest import START, wait_until

pytestmark = pytest.mark.timeout(10)


def test_complete_persists_the_value_skips_later_steps_and_completes_the_run(harness, recorder):
    later: list[int] = []
    failures: list[object] = []
    wf = (
        create_workflow("early")
        .step("check", lambda ctx: ctx.complete({"reason": "ineligible"}))
        .step("never", lambda ctx: later.append(1))
        .on_failure(failures.append)
    )
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()

    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert [(s.name, s.status, s.output, s.attempts) for s in info.steps] == [
        ("check", "completed-early", {"reason": "ineligible"}, 1)
    ]
    assert later == []
    assert failures == []
    assert recorder.types(run.id) == [
        ("run_start", None),
        ("step_start", "check"),
        ("step_complete", "check"),
        ("run_complete", None),
    ]
    (step_complete,) = recorder.of_type("step_complete")
    assert (step_complete.output, step_complete.attempts) == ({"reason": "ineligible"}, 1)
    (run_complete,) = recorder.of_type("run_complete")
    assert run_complete.output == {"reason": "ineligible"}
    assert recorder.of_type("run_failed") == []


def test_complete_without_a_value_records_none(harness, recorder):
    wf = create_workflow("early-none").step("check", lambda ctx: ctx.complete())
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    (row,) = engine.get_run_status(run.id).steps
    assert (row.status, row.output) == (StepStatus.COMPLETED_EARLY, None)
    assert recorder.of_type("run_complete")[0].output is None


def test_complete_from_a_later_step_keeps_earlier_rows_and_sees_their_outputs(harness):
    seen: dict = {}

    def decide(ctx):
        seen["steps"] = dict(ctx.steps)
        ctx.complete({"final": True})

    wf = (
        create_workflow("early-later")
        .step("a", lambda ctx: {"fromA": 42})
        .step("b", decide)
        .step("c", lambda ctx: pytest.fail("c must not run"))
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert seen["steps"] == {"a": {"fromA": 42}}
    info = engine.get_run_status(run.id)
    assert [(s.name, s.status) for s in info.steps] == [
        ("a", "completed"),
        ("b", "completed-early"),
    ]


def test_complete_cannot_be_swallowed_by_a_broad_except_in_the_handler(harness):
    def careless(ctx):
        try:
            ctx.complete("stop here")
        except Exception:
            return "swallowed"
        return "fell through"

    wf = create_workflow("careless").step("a", careless).step("b", lambda ctx: "ran")
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert [(s.name, s.status, s.output) for s in info.steps] == [
        ("a", "completed-early", "stop here")
    ]


def test_complete_on_a_retried_attempt_reports_that_attempt(harness, recorder):
    def second_time(ctx):
        if ctx.attempt == 1:
            raise RuntimeError("transient")
        ctx.complete("done")

    wf = create_workflow("early-retry").step(
        "a", second_time, retry=Retry(max_attempts=3, initial_delay=0)
    )
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    row = engine.get_run_status(run.id).step("a")
    assert (row.status, row.attempts) == ("completed-early", 2)
    assert recorder.of_type("step_complete")[0].attempts == 2


def test_complete_from_an_async_handler(harness):
    async def check(ctx):
        ctx.complete({"async": True})

    wf = create_workflow("early-async").step("a", check).step("b", lambda ctx: "ran")
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert [(s.name, s.output) for s in info.steps] == [("a", {"async": True})]


def test_a_complete_value_that_cannot_be_persisted_fails_the_run(harness):
    wf = create_workflow("early-bad").step("a", lambda ctx: ctx.complete({"tags": {1, 2}}))
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    assert info.step("a").error.startswith("SerializationError")


def test_a_completed_early_row_found_on_recovery_finishes_the_run(harness, recorder):
    clock = VirtualClock(START)
    storage = harness.memory(clock)
    calls: list[str] = []
    wf = (
        create_workflow("early-recovery")
        .step("check", lambda ctx: calls.append("check"))
        .step("after", lambda ctx: calls.append("after"))
    )
    engine = harness.engine([wf], storage=storage, clock=clock, hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    # A worker claimed the run, saved complete()'s row, and died before marking the run.
    claimed = storage.claim_next_run(["early-recovery"])
    saved = storage.save_step_result(
        StepResult("check", StepStatus.COMPLETED_EARLY, {"done": True}, attempts=1, run_id=run.id),
        claimed.lease_id,
    )
    assert saved
    clock.advance(31)

    assert engine.tick() == 1

    assert calls == []
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert [(s.name, s.status, s.output) for s in info.steps] == [
        ("check", "completed-early", {"done": True})
    ]
    assert recorder.types(run.id) == [
        ("run_start", None),
        ("step_complete", "check"),
        ("run_complete", None),
    ]
    (step_complete,) = recorder.of_type("step_complete")
    assert (step_complete.output, step_complete.attempts) == ({"done": True}, 1)
    assert recorder.of_type("run_complete")[0].output == {"done": True}


def test_complete_inside_a_parallel_branch_fails_the_run_with_parallel_complete_error(harness):
    failures: list = []
    raised: list = []
    lock = threading.Lock()

    def branch(ctx):
        try:
            ctx.complete("nope")
        except ParallelCompleteError as error:
            with lock:
                raised.append(error)
            raise

    wf = (
        create_workflow("early-parallel")
        .parallel({"inner": branch})
        .step("after", lambda ctx: "ran")
        .on_failure(failures.append)
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()

    assert len(raised) == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    row = info.step("inner")
    assert row.status == StepStatus.FAILED
    assert row.error.startswith("ParallelCompleteError")
    assert info.step("after") is None
    wait_until(lambda: failures)
    assert isinstance(failures[0].error, ParallelCompleteError)
    assert failures[0].step_name == "inner"


def test_serialization_errors_are_not_retried(harness):
    calls: list[int] = []

    def unpersistable(ctx):
        calls.append(ctx.attempt)
        return {"when": object()}

    wf = create_workflow("bad-output").step(
        "a", unpersistable, retry=Retry(max_attempts=3, initial_delay=0)
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert calls == [1]
    row = engine.get_run_status(run.id).step("a")
    assert row.status == StepStatus.FAILED
    assert row.error.startswith(SerializationError.__name__)
    assert "output.when" in row.error
