"""Lifecycle hooks: exact event fields and order, sync and async hooks awaited before the
run goes on, per-hook copies of outputs and errors, ``run_start`` on resumption, skipped
steps, and hanging async hooks interrupted by cancel and stop
(reflow-ts §23 HK-1..HK-3, HK-6, HK-7, HK-9..HK-11; API.md "Hooks").
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from reflow_actors import (
    Retry,
    RunComplete,
    RunFailed,
    RunStart,
    StepComplete,
    StepSkipped,
    StepStart,
    create_workflow,
)

from .conftest import Recorder, drain


def _two_steps_and_a_skip():
    return (
        create_workflow("hooked")
        .step("a", lambda ctx: {"x": 1})
        .step("skip", lambda ctx: "never", when=lambda ctx: False)
        .step("b", lambda ctx: {"y": ctx.prev["x"] + 1})
    )


@pytest.mark.timeout(10)
def test_each_hook_receives_its_event_with_the_documented_fields(rt):
    recorder = Recorder()
    wf = _two_steps_and_a_skip()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    assert recorder.events == [
        RunStart(run.id, "hooked"),
        StepStart(run.id, "hooked", "a"),
        StepComplete(run.id, "hooked", "a", {"x": 1}, 1),
        StepSkipped(run.id, "hooked", "skip"),
        StepStart(run.id, "hooked", "b"),
        StepComplete(run.id, "hooked", "b", {"y": 2}, 1),
        RunComplete(run.id, "hooked", {"y": 2}),
    ]
    assert [event.type for event in recorder.events] == [
        "run_start",
        "step_start",
        "step_complete",
        "step_skipped",
        "step_start",
        "step_complete",
        "run_complete",
    ]
    assert recorder.errors == []


@pytest.mark.timeout(10)
def test_run_failed_hook_gets_the_failing_step_and_its_error(rt):
    boom = ValueError("boom")

    def fail(ctx):
        raise boom

    recorder = Recorder()
    wf = create_workflow("failing").step("ok", lambda ctx: 1).step("bad", fail)
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    assert recorder.types() == [
        "run_start",
        "step_start",
        "step_complete",
        "step_start",
        "run_failed",
    ]
    [failed] = recorder.of("run_failed")
    assert isinstance(failed, RunFailed)
    assert (failed.run_id, failed.workflow, failed.step_name) == (run.id, "failing", "bad")
    assert isinstance(failed.error, ValueError)
    assert str(failed.error) == "boom"


@pytest.mark.timeout(10)
def test_a_retried_step_reports_the_attempts_it_used(rt):
    def flaky(ctx):
        if ctx.attempt < 3:
            raise RuntimeError("not yet")
        return "ok"

    recorder = Recorder()
    wf = create_workflow("retried").step("s", flaky, retry=Retry(max_attempts=3, initial_delay=0))
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    engine.enqueue(wf, None)
    engine.tick()
    [complete] = recorder.of("step_complete")
    assert complete.attempts == 3
    assert [e.step_name for e in recorder.of("step_start")] == ["s"]


@pytest.mark.timeout(10)
def test_sync_and_async_hooks_finish_before_the_next_unit_starts(rt):
    order: list[str] = []

    def step(name: str):
        def handler(ctx):
            order.append(f"{name}-run")
            return name

        return handler

    async def on_step_complete(event):
        await asyncio.sleep(0.05)
        order.append(f"hook-{event.step_name}")

    def on_step_start(event):
        time.sleep(0.02)  # a slow sync hook
        order.append(f"start-{event.step_name}")

    async def on_run_start(event):
        await asyncio.sleep(0.02)
        order.append("run-start")

    async def on_run_complete(event):
        await asyncio.sleep(0.02)
        order.append(f"run-complete-{event.output}")

    hooks = Recorder().hooks(
        on_run_start=on_run_start,
        on_step_start=on_step_start,
        on_step_complete=on_step_complete,
        on_run_complete=on_run_complete,
    )
    wf = create_workflow("awaited").step("a", step("a")).step("b", step("b"))
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    engine.enqueue(wf, None)
    engine.tick()  # returns only after the last hook finished
    assert order == [
        "run-start",
        "start-a",
        "a-run",
        "hook-a",
        "start-b",
        "b-run",
        "hook-b",
        "run-complete-b",
    ]


@pytest.mark.timeout(10)
def test_an_async_failure_hook_is_awaited_in_lifecycle_order(rt):
    order: list[str] = []

    async def record(event):
        await asyncio.sleep(0.02)
        order.append(event.type)

    def handler(ctx):
        order.append("handler")
        raise RuntimeError("nope")

    hooks = Recorder().hooks(on_run_start=record, on_step_start=record, on_run_failed=record)
    wf = create_workflow("async-failure").step("s", handler)
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    engine.enqueue(wf, None)
    engine.tick()
    assert order == ["run_start", "step_start", "handler", "run_failed"]


@pytest.mark.timeout(10)
def test_each_observer_gets_its_own_copy_of_the_output(rt):
    seen: dict[str, Any] = {}
    hook_outputs: list[Any] = []

    def on_step_complete(event):
        hook_outputs.append(event.output["nested"]["value"])
        event.output["nested"]["value"] = 999  # must change nothing elsewhere

    def b(ctx):
        seen["prev"] = ctx.prev["nested"]["value"]
        seen["steps"] = ctx.steps["a"]["nested"]["value"]
        return ctx.prev

    wf = create_workflow("copies").step("a", lambda ctx: {"nested": {"value": 1}}).step("b", b)
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks(on_step_complete=on_step_complete))
    with engine.stream() as stream:
        run = engine.enqueue(wf, None)
        engine.tick()
        events = drain(stream)
    assert seen == {"prev": 1, "steps": 1}
    assert hook_outputs == [1, 1]
    streamed = [e.output for e in events if e.type == "step_complete"]
    assert streamed == [{"nested": {"value": 1}}, {"nested": {"value": 1}}]
    assert recorder.of("run_complete")[0].output == {"nested": {"value": 1}}
    info = engine.get_run_status(run.id)
    assert info.step("a").output == {"nested": {"value": 1}}
    assert info.step("b").output == {"nested": {"value": 1}}


@pytest.mark.timeout(10)
def test_run_start_fires_again_when_a_run_resumes(rt):
    recorder = Recorder()
    wf = (
        create_workflow("resumes")
        .step("before", lambda ctx: "x")
        .wait_for_event("approved")
        .step("after", lambda ctx: ctx.prev)
    )
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).run.status == "waiting"
    assert engine.send_event(run.id, "approved", {"ok": True}) is True
    engine.tick()
    assert engine.get_run_status(run.id).run.status == "completed"
    assert recorder.types().count("run_start") == 2
    starts = [e.step_name for e in recorder.of("step_start")]
    assert starts == ["before", "approved", "after"]  # the wait is not re-announced


@pytest.mark.timeout(10)
def test_a_skipped_step_emits_step_skipped_and_no_step_start(rt):
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [_two_steps_and_a_skip()], hooks=recorder.hooks())
    engine.enqueue("hooked", None)
    engine.tick()
    assert [e.step_name for e in recorder.of("step_skipped")] == ["skip"]
    assert "skip" not in [e.step_name for e in recorder.of("step_start")]
    assert "skip" not in [e.step_name for e in recorder.of("step_complete")]


def _hanging_run_start(entered: threading.Event):
    async def on_run_start(event):
        entered.set()
        await asyncio.sleep(60)

    return on_run_start


@pytest.mark.timeout(10)
def test_cancel_interrupts_a_hanging_async_hook(rt):
    entered = threading.Event()
    calls: list[str] = []
    wf = create_workflow("hang").step("s", lambda ctx: calls.append("s"))
    hooks = Recorder().hooks(on_run_start=_hanging_run_start(entered))
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert entered.wait(5)
    assert engine.cancel(run.id) is True
    assert tick.result(timeout=2) == 1
    assert engine.get_run_status(run.id).run.status == "cancelled"
    assert calls == []


@pytest.mark.timeout(10)
def test_stop_interrupts_a_hanging_async_hook_and_leaves_the_run_running(rt):
    entered = threading.Event()
    calls: list[str] = []
    wf = create_workflow("hang").step("s", lambda ctx: calls.append("s"))
    hooks = Recorder().hooks(on_run_start=_hanging_run_start(entered))
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert entered.wait(5)
    stopper = rt.bg(engine.stop)
    stopper.result(timeout=3)
    tick.result(timeout=2)
    assert engine.get_run_status(run.id).run.status == "running"
    assert calls == []


@pytest.mark.timeout(10)
def test_a_hook_mutating_the_error_changes_neither_on_failure_nor_streams(rt):
    original = ValueError("original failure")
    failures: list[Any] = []

    def fail(ctx):
        raise original

    def on_run_failed(event):
        event.error.args = ("mutated by hook",)

    wf = create_workflow("error-copy").step("bad", fail).on_failure(failures.append)
    engine = rt.engine(rt.memory(), [wf], hooks=Recorder().hooks(on_run_failed=on_run_failed))
    with engine.stream() as stream:
        engine.enqueue(wf, None)
        engine.tick()
        [streamed] = [e for e in drain(stream) if e.type == "run_failed"]
    assert str(streamed.error) == "original failure"
    assert str(failures[0].error) == "original failure"
    assert str(original) == "original failure"
