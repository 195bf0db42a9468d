"""Conditional steps: ``when`` decides once per run, and the decision is persisted.

Covers API.md "Workflows" (``when``) and reflow-ts §11 CD: ``False`` records a
``skipped`` row and passes ``prev`` through, ``True`` runs the step, async
predicates work, a skipped decision is never re-evaluated on replay, and a
raising predicate fails the run at that step with ``on_failure`` told so.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import Hooks, StepResult, StepStatus, VirtualClock, create_workflow
from reflow_actors.records import RunStatus

from .conftest import START

pytestmark = pytest.mark.timeout(10)


def _tiered(when):
    return (
        create_workflow("tiers")
        .step("base", lambda ctx: {"tier": "base"})
        .step("upgrade", lambda ctx: {"tier": "premium"}, when=when)
        .step("finalize", lambda ctx: {"final": ctx.prev["tier"]})
    )


def test_a_false_condition_records_a_skipped_row_and_passes_prev_through(harness, recorder):
    wf = _tiered(lambda c: c.input["premium"])
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, {"premium": False})
    engine.tick()

    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    skipped = info.step("upgrade")
    assert (skipped.status, skipped.output, skipped.attempts) == ("skipped", None, 0)
    assert info.step("finalize").output == {"final": "base"}
    types = recorder.types(run.id)
    assert ("step_skipped", "upgrade") in types
    assert ("step_start", "upgrade") not in types
    assert types.index(("step_skipped", "upgrade")) < types.index(("step_start", "finalize"))


def test_a_true_condition_runs_the_step(harness):
    wf = _tiered(lambda c: c.input["premium"])
    engine = harness.engine([wf])
    run = engine.enqueue(wf, {"premium": True})
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.step("upgrade").status == StepStatus.COMPLETED
    assert info.step("finalize").output == {"final": "premium"}


@pytest.mark.parametrize("decision", [True, False])
def test_an_async_condition_is_awaited(harness, decision):
    async def when(ctx):
        return decision

    wf = _tiered(when)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    expected = "completed" if decision else "skipped"
    assert engine.get_run_status(run.id).step("upgrade").status == expected


def test_the_condition_sees_input_prev_and_steps_but_no_signal_or_complete(harness):
    seen: dict = {}

    def when(ctx):
        seen.update(
            input=ctx.input,
            prev=ctx.prev,
            steps=dict(ctx.steps),
            step_name=ctx.step_name,
            has_signal=hasattr(ctx, "signal"),
            has_complete=hasattr(ctx, "complete"),
        )
        return True

    wf = _tiered(when)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, {"premium": None})
    engine.tick()
    assert seen == {
        "input": {"premium": None},
        "prev": {"tier": "base"},
        "steps": {"base": {"tier": "base"}},
        "step_name": "upgrade",
        "has_signal": False,
        "has_complete": False,
    }
    assert engine.get_run_status(run.id).run.status == RunStatus.COMPLETED


def test_the_decision_is_evaluated_once_and_not_recomputed_after_a_suspension(harness):
    evaluations: list[int] = []
    ran: list[int] = []

    def flip(ctx):
        evaluations.append(1)
        return len(evaluations) > 1  # would run the step if asked again

    wf = (
        create_workflow("once")
        .step("gate", lambda ctx: ran.append(1), when=flip)
        .wait_for_event("go")
        .step("after", lambda ctx: ctx.prev)
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).run.status == RunStatus.WAITING
    assert engine.send_event(run.id, "go", {"ok": 1})
    engine.tick()

    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert evaluations == [1]
    assert ran == []
    assert info.step("gate").status == StepStatus.SKIPPED
    assert info.step("after").output == {"ok": 1}


def test_a_persisted_skip_is_honoured_without_asking_the_condition(harness):
    asked: list[int] = []
    ran: list[int] = []
    wf = (
        create_workflow("seeded-skip")
        .step("a", lambda ctx: "a-out")
        .step("gate", lambda ctx: ran.append(1), when=lambda c: asked.append(1) or True)
        .step("after", lambda ctx: ctx.prev)
    )
    storage = harness.memory()
    engine = harness.engine([wf], storage=storage)
    run = engine.enqueue(wf, None)
    storage.save_step_result(StepResult("gate", StepStatus.SKIPPED, run_id=run.id))
    engine.tick()
    assert asked == []
    assert ran == []
    assert engine.get_run_status(run.id).step("after").output == "a-out"


def test_the_skipped_row_is_persisted_before_step_skipped_is_emitted(harness):
    rows: list = []
    engine = None

    def on_step_skipped(event):
        rows.append(engine.get_run_status(event.run_id).step(event.step_name))

    wf = _tiered(lambda c: False)
    engine = harness.engine([wf], hooks=Hooks(on_step_skipped=on_step_skipped))
    engine.enqueue(wf, None)
    engine.tick()
    (row,) = rows
    assert row is not None
    assert row.status == StepStatus.SKIPPED


def test_a_true_decision_is_not_re_evaluated_when_the_run_is_recovered(harness):
    clock = VirtualClock(START)
    evaluations: list[int] = []
    attempts: list[int] = []
    entered = threading.Event()

    def first_time_only(ctx):
        evaluations.append(1)
        return len(evaluations) == 1

    def gated(ctx):
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            entered.set()
            ctx.signal.wait(5)  # the engine goes away mid-step
            ctx.signal.throw_if_aborted()
        return "ran"

    wf = (
        create_workflow("recovered-when")
        .step("a", lambda ctx: "a")
        .step("gated", gated, when=first_time_only)
        .step("after", lambda ctx: ctx.prev)
    )
    engine = harness.engine([wf], clock=clock)
    run = engine.enqueue(wf, None)
    engine.start(poll_interval=60)
    assert entered.wait(5)
    engine.stop(timeout=5)
    clock.advance(31)  # stale lease: the next claim recovers the run
    assert engine.tick() == 1

    info = engine.get_run_status(run.id)
    assert evaluations == [1]
    assert attempts == [1, 2]
    row = info.step("gated")
    assert (row.status, row.output, row.attempts) == ("completed", "ran", 2)
    assert info.step("after").output == "ran"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_raising_condition_fails_the_run_at_that_step(harness, recorder, is_async):
    failures: list = []
    ran: list[str] = []
    lock = threading.Lock()

    def record(ctx):
        with lock:
            failures.append(ctx)

    def sync_when(ctx):
        raise RuntimeError("flag service down")

    async def async_when(ctx):
        raise RuntimeError("flag service down")

    wf = (
        create_workflow("raising")
        .step("a", lambda ctx: ran.append("a"))
        .step("b", lambda ctx: ran.append("b"), when=async_when if is_async else sync_when)
        .step("c", lambda ctx: ran.append("c"))
        .on_failure(record)
    )
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, {"user": 1})
    engine.tick()

    assert ran == ["a"]
    assert engine.get_run_status(run.id).run.status == RunStatus.FAILED
    (failure,) = failures
    assert failure.step_name == "b"
    assert str(failure.error) == "flag service down"
    assert failure.run_id == run.id
    assert failure.input == {"user": 1}
    (failed,) = recorder.of_type("run_failed")
    assert failed.step_name == "b"
