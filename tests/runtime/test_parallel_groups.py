"""Parallel groups that succeed: branches overlap, share ``input`` and ``prev``, merge into
``{branch: output}`` in declaration order, are persisted one by one as they complete,
retry on their own, and announce every start before any completion
(reflow-ts §15 PG-1..PG-3, PG-8, PG-19; API.md "Parallel branches").
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reflow_actors import Branch, Retry, create_workflow

from .conftest import Recorder, wait_until


@pytest.mark.timeout(10)
def test_branches_run_concurrently(rt):
    barrier = threading.Barrier(3, timeout=3)

    def branch(name: str):
        def handler(ctx):
            barrier.wait()  # only passes when all three branches are inside at once
            return name

        return handler

    wf = create_workflow("overlap").parallel({n: branch(n) for n in ("a", "b", "c")})
    engine = rt.engine(rt.memory(), [wf])
    run = engine.enqueue(wf, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert {s.name: s.output for s in info.steps} == {"a": "a", "b": "b", "c": "c"}


@pytest.mark.timeout(10)
def test_every_branch_gets_the_same_input_and_prev(rt):
    seen: dict[str, tuple[Any, Any]] = {}
    lock = threading.Lock()

    def branch(name: str):
        def handler(ctx):
            with lock:
                seen[name] = (ctx.input, ctx.prev)
            return name

        return handler

    wf = (
        create_workflow("same-inputs")
        .step("first", lambda ctx: {"value": 42})
        .parallel({"a": branch("a"), "b": branch("b")})
    )
    engine = rt.engine(rt.memory(), [wf])
    engine.enqueue(wf, {"order": 7})
    engine.tick()
    assert seen == {
        "a": ({"order": 7}, {"value": 42}),
        "b": ({"order": 7}, {"value": 42}),
    }


@pytest.mark.timeout(10)
def test_next_step_gets_merged_outputs_in_declaration_order(rt):
    seen: dict[str, Any] = {}
    z_may_finish = rt.gate()

    def z(ctx):
        assert z_may_finish.wait(3)  # z finishes last, though it is declared first
        return {"z": 26}

    def a(ctx):
        return {"a": 1}

    def m(ctx):
        return {"m": 13}

    def after(ctx):
        seen["prev"] = ctx.prev
        seen["keys"] = list(ctx.prev)
        seen["steps"] = {name: ctx.steps[name] for name in ("z", "a", "m")}
        return "done"

    wf = create_workflow("merge").parallel({"z": z, "a": a, "m": m}).step("after", after)
    recorder = Recorder()

    def on_step_complete(event):
        recorder._record(event)
        if {e.step_name for e in recorder.of("step_complete")} >= {"a", "m"}:
            z_may_finish.set()

    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks(on_step_complete=on_step_complete))
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).run.status == "completed"
    completed = [e.step_name for e in recorder.of("step_complete")]
    assert sorted(completed[:2]) == ["a", "m"]
    assert completed[2:] == ["z", "after"]
    assert seen["prev"] == {"z": {"z": 26}, "a": {"a": 1}, "m": {"m": 13}}
    assert seen["keys"] == ["z", "a", "m"]
    assert seen["steps"] == seen["prev"]
    run_complete = recorder.of("run_complete")[0]
    assert run_complete.output == "done"


@pytest.mark.timeout(10)
def test_a_fast_branch_is_persisted_while_a_slow_sibling_still_runs(rt):
    slow_may_finish = rt.gate()

    def slow(ctx):
        assert slow_may_finish.wait(5)
        return "slow"

    wf = create_workflow("as-it-completes").parallel({"slow": slow, "fast": lambda ctx: "fast"})
    engine = rt.engine(rt.sqlite(), [wf])
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)

    def fast_row_completed():
        info = engine.get_run_status(run.id)
        row = info.step("fast")
        return row is not None and row.status == "completed"

    wait_until(fast_row_completed, message="the fast branch's row to be completed")
    info = engine.get_run_status(run.id)
    assert info.run.status == "running"
    assert info.step("fast").output == "fast"
    assert info.step("slow").status == "running"  # the slow branch's attempt marker
    assert not tick.done
    slow_may_finish.set()
    assert tick.result() == 1
    assert engine.get_run_status(run.id).run.status == "completed"


@pytest.mark.timeout(10)
def test_each_branch_retries_on_its_own(rt):
    calls = {"flaky": 0, "stable": 0}

    def flaky(ctx):
        calls["flaky"] += 1
        if ctx.attempt < 3:
            raise RuntimeError(f"transient {ctx.attempt}")
        return {"recovered": True}

    def stable(ctx):
        calls["stable"] += 1
        return {"stable": True}

    wf = create_workflow("branch-retry").parallel(
        {"flaky": Branch(flaky, retry=Retry(max_attempts=3, initial_delay=0)), "stable": stable}
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert calls == {"flaky": 3, "stable": 1}
    assert info.step("flaky").output == {"recovered": True}
    assert info.step("flaky").attempts == 3
    assert info.step("stable").attempts == 1
    attempts = {e.step_name: e.attempts for e in recorder.of("step_complete")}
    assert attempts == {"flaky": 3, "stable": 1}


@pytest.mark.timeout(10)
def test_branch_events_start_all_branches_then_complete_each(rt):
    wf = (
        create_workflow("events")
        .parallel({"a": lambda ctx: {"value": "a"}, "b": lambda ctx: {"value": "b"}})
        .step("after", lambda ctx: ctx.prev)
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    engine.enqueue(wf, None)
    engine.tick()
    pairs = recorder.pairs()
    group = pairs[1:5]
    assert group[:2] == [("step_start", "a"), ("step_start", "b")]
    assert sorted(group[2:]) == [("step_complete", "a"), ("step_complete", "b")]
    assert pairs[5:] == [
        ("step_start", "after"),
        ("step_complete", "after"),
        ("run_complete", None),
    ]
    completes = {e.step_name: (e.output, e.attempts) for e in recorder.of("step_complete")}
    assert completes["a"] == ({"value": "a"}, 1)
    assert recorder.of("run_complete")[0].output == {"a": {"value": "a"}, "b": {"value": "b"}}
