"""Parallel groups that fail: fail-fast aborts siblings with the causing branch's error,
blame goes to the branch that really failed, aborted siblings make no further attempts
(not even from a retry delay), per-branch timeouts, ``complete()`` in a branch, and
neither sync nor async siblings hold up the decision
(reflow-ts §15 PG-4..PG-7, PG-9..PG-11, PG-18; API.md "Parallel branches").
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from reflow_actors import Branch, Retry, create_workflow
from reflow_actors.errors import ParallelCompleteError, SerializationError, StepTimeoutError

from .conftest import Recorder, wait_until


@pytest.mark.timeout(10)
def test_a_failing_branch_aborts_its_siblings_with_its_own_error(rt):
    reasons: dict[str, Any] = {}
    sibling_started = threading.Event()

    def fail(ctx):
        assert sibling_started.wait(3)
        raise ValueError("a broke")

    def sibling(ctx):
        sibling_started.set()
        aborted = ctx.signal.wait(5)
        reasons["aborted"] = aborted
        reasons["reason"] = ctx.signal.reason
        raise RuntimeError("gave up")

    wf = create_workflow("fail-fast").parallel({"a": fail, "b": sibling})
    engine = rt.engine(rt.memory(), [wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    wait_until(lambda: "reason" in reasons)  # the group does not wait for b to return
    assert reasons["aborted"] is True
    assert isinstance(reasons["reason"], ValueError)
    assert str(reasons["reason"]) == "a broke"
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("a").status == "failed"
    assert info.step("a").error == "ValueError: a broke"
    assert info.step("b").status == "failed"
    assert info.step("b").error.startswith("Aborted:")


@pytest.mark.timeout(10)
def test_run_failed_and_on_failure_blame_the_branch_that_really_failed(rt):
    failures: list[Any] = []
    second_failed = threading.Event()

    def first(ctx):
        # Declared first, fails second: only because the group aborted it.
        ctx.signal.wait(5)
        raise RuntimeError("first was aborted")

    def second(ctx):
        second_failed.set()
        raise ValueError("underlying cause")

    wf = (
        create_workflow("blame")
        .parallel({"first": first, "second": second})
        .on_failure(failures.append)
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, {"k": 1})
    engine.tick()
    [failed] = recorder.of("run_failed")
    assert failed.step_name == "second"
    assert isinstance(failed.error, ValueError)
    assert str(failed.error) == "underlying cause"
    [context] = failures
    assert context.step_name == "second"
    assert str(context.error) == "underlying cause"
    assert context.run_id == run.id
    assert context.input == {"k": 1}
    assert engine.get_run_status(run.id).step("second").error == "ValueError: underlying cause"


@pytest.mark.timeout(10)
def test_an_aborted_sibling_makes_no_further_attempts(rt):
    calls = {"b": 0}

    def a(ctx):
        wait_until(lambda: calls["b"] >= 1, timeout=3)
        raise ValueError("a failed")

    def b(ctx):
        calls["b"] += 1
        ctx.signal.wait(5)
        raise RuntimeError("b interrupted")

    wf = create_workflow("no-more-attempts").parallel(
        {"a": a, "b": Branch(b, retry=Retry(max_attempts=5, initial_delay=0))}
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    engine.enqueue(wf, None)
    engine.tick()
    assert calls["b"] == 1
    assert [e.step_name for e in recorder.of("run_failed")] == ["a"]


@pytest.mark.timeout(10)
def test_a_sibling_waiting_out_its_retry_delay_makes_no_further_attempt(rt):
    calls = {"b": 0}
    storage = rt.memory()

    def b_waits_for_attempt_2(run_id: str) -> bool:
        # b's failed attempt 1 and the marker of attempt 2 are saved before the delay.
        rows = {row.name: row for row in storage.get_step_results(run_id)}
        return "b" in rows and rows["b"].attempts == 2

    def a(ctx):
        wait_until(lambda: b_waits_for_attempt_2(ctx.run_id), timeout=3)
        raise ValueError("a failed")

    def b(ctx):
        calls["b"] += 1
        raise RuntimeError("b is flaky")

    wf = create_workflow("abort-in-backoff").parallel(
        {"a": a, "b": Branch(b, retry=Retry(max_attempts=5, backoff="fixed", initial_delay=30))}
    )
    recorder = Recorder()
    engine = rt.engine(storage, [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert tick.result(timeout=3) == 1  # far less than b's 30 s retry delay
    assert calls["b"] == 1
    assert [e.step_name for e in recorder.of("run_failed")] == ["a"]
    assert engine.get_run_status(run.id).run.status == "failed"


@pytest.mark.timeout(10)
def test_a_branch_timeout_fails_the_branch_and_triggers_fail_fast(rt):
    reasons: dict[str, Any] = {}
    fast_started = threading.Event()

    def slow(ctx):
        fast_started.wait(3)
        ctx.signal.wait(10)
        reasons["slow"] = ctx.signal.reason
        return "too late"

    def fast(ctx):
        fast_started.set()
        ctx.signal.wait(10)
        reasons["fast"] = ctx.signal.reason
        return "never finishes on its own"

    wf = create_workflow("branch-timeout").parallel(
        {"slow": Branch(slow, timeout=0.1), "fast": fast}
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    tick.result(timeout=5)
    [failed] = recorder.of("run_failed")
    assert failed.step_name == "slow"
    assert isinstance(failed.error, StepTimeoutError)
    wait_until(lambda: "fast" in reasons and "slow" in reasons)
    assert isinstance(reasons["slow"], StepTimeoutError)
    assert isinstance(reasons["fast"], StepTimeoutError)  # the sibling's error
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("slow").status == "failed"
    assert "StepTimeoutError" in info.step("slow").error


@pytest.mark.timeout(10)
def test_complete_inside_a_branch_fails_the_run_with_parallel_complete_error(rt):
    after_calls: list[Any] = []

    def bad(ctx):
        ctx.complete("done")

    wf = (
        create_workflow("branch-complete")
        .parallel({"bad": bad, "good": lambda ctx: "ok"})
        .step("after", after_calls.append)
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    [failed] = recorder.of("run_failed")
    assert failed.step_name == "bad"
    assert isinstance(failed.error, ParallelCompleteError)
    assert recorder.of("run_complete") == []
    assert after_calls == []
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("bad").status == "failed"
    assert info.step("bad").error.startswith("ParallelCompleteError")


@pytest.mark.timeout(10)
def test_fail_fast_does_not_wait_for_a_sibling_that_ignores_its_signal(rt):
    release = rt.gate()
    sibling_started = threading.Event()
    sibling_returned = threading.Event()

    def stubborn(ctx):
        sibling_started.set()
        release.wait(10)  # ignores the abort
        sibling_returned.set()
        return "late"

    def fail(ctx):
        assert sibling_started.wait(3)
        raise ValueError("a broke")

    wf = create_workflow("stubborn-sibling").parallel({"a": fail, "b": stubborn})
    engine = rt.engine(rt.memory(), [wf])
    run = engine.enqueue(wf, None)
    assert rt.bg(engine.tick).result(timeout=3) == 1  # decided while b still runs
    assert not sibling_returned.is_set()
    release.set()
    assert sibling_returned.wait(5)
    engine.stop(timeout=5)  # the late result has been delivered (and ignored) by now
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("b").status == "failed"
    assert info.step("b").output is None
    assert info.step("b").error.startswith("Aborted:")


@pytest.mark.timeout(10)
def test_an_async_sibling_is_cancelled_when_a_branch_fails(rt):
    seen: dict[str, Any] = {}
    sibling_started = threading.Event()

    async def sibling(ctx):
        sibling_started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            seen["reason"] = ctx.signal.reason
            raise
        return "finished"

    def fail(ctx):
        assert sibling_started.wait(3)
        raise ValueError("a broke")

    wf = create_workflow("async-sibling").parallel({"a": fail, "b": sibling})
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    assert rt.bg(engine.tick).result(timeout=3) == 1
    wait_until(lambda: "cancelled" in seen)
    assert isinstance(seen["reason"], ValueError)
    assert [e.step_name for e in recorder.of("run_failed")] == ["a"]
    assert engine.get_run_status(run.id).run.status == "failed"


@pytest.mark.timeout(10)
def test_branches_failing_at_once_report_exactly_one_cause(rt):
    barrier = threading.Barrier(3, timeout=3)
    failures: list[Any] = []

    def branch(name: str):
        def handler(ctx):
            barrier.wait()
            raise RuntimeError(f"{name} failed")

        return handler

    wf = (
        create_workflow("all-fail")
        .parallel({n: branch(n) for n in ("a", "b", "c")})
        .on_failure(failures.append)
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    [failed] = recorder.of("run_failed")
    assert [context.step_name for context in failures] == [failed.step_name]
    assert str(failed.error) == f"{failed.step_name} failed"
    rows = engine.get_run_status(run.id).steps
    causes = [row for row in rows if not row.error.startswith("Aborted:")]
    assert [(row.name, row.error) for row in causes] == [
        (failed.step_name, f"RuntimeError: {failed.step_name} failed")
    ]


@pytest.mark.timeout(10)
def test_the_causing_branch_row_keeps_its_own_attempts(rt):
    def always(ctx):
        raise RuntimeError(f"attempt {ctx.attempt}")

    wf = create_workflow("cause-attempts").parallel(
        {"ok": lambda ctx: 1, "bad": Branch(always, retry=Retry(max_attempts=3, initial_delay=0))}
    )
    engine = rt.engine(rt.memory(), [wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    row = engine.get_run_status(run.id).step("bad")
    assert (row.status, row.error, row.attempts) == ("failed", "RuntimeError: attempt 3", 3)


@pytest.mark.timeout(10)
def test_a_branch_returning_an_unpersistable_output_fails_the_group(rt):
    after: list[Any] = []
    wf = (
        create_workflow("bad-output")
        .parallel({"good": lambda ctx: 1, "bad": lambda ctx: {"tags": {1, 2}}})
        .step("after", after.append)
    )
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    [failed] = recorder.of("run_failed")
    assert failed.step_name == "bad"
    assert isinstance(failed.error, SerializationError)
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("bad").status == "failed"
    assert info.step("bad").output is None
    assert after == []
