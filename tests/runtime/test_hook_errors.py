"""Hooks that raise: a raising hook (sync or async, ``Exception`` or ``BaseException``) or
``on_failure`` handler never changes the run and reaches ``on_error`` as ``HookError``
with the original error as ``__cause__`` and the documented ``source``; ``on_error`` is
not awaited and its own errors are swallowed (reflow-ts §23 HK-4, HK-5; API.md "Hooks").
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from reflow_actors import (
    create_workflow,
)
from reflow_actors.errors import HookError

from .conftest import Recorder, wait_until

HOOK_NAMES = ["on_run_start", "on_step_start", "on_step_complete", "on_run_complete"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("hook_name", HOOK_NAMES)
def test_a_raising_hook_never_changes_the_run_and_is_reported(rt, hook_name, kind):
    original = RuntimeError("metrics backend down")

    def raise_sync(event):
        raise original

    async def raise_async(event):
        await asyncio.sleep(0)
        raise original

    recorder = Recorder()
    hooks = recorder.hooks(**{hook_name: raise_sync if kind == "sync" else raise_async})
    wf = create_workflow("raising").step("a", lambda ctx: 1).step("b", lambda ctx: 2)
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    run = engine.enqueue(wf, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert [(s.name, s.status, s.output) for s in info.steps] == [
        ("a", "completed", 1),
        ("b", "completed", 2),
    ]
    expected = 1 if hook_name in ("on_run_start", "on_run_complete") else 2
    wait_until(lambda: len(recorder.errors) == expected)
    for error in recorder.errors:
        assert isinstance(error, HookError)
        assert error.code == "HOOK"
        assert error.source == f"{hook_name} hook"
        assert error.__cause__ is original


@pytest.mark.timeout(10)
def test_raising_failure_and_skip_hooks_and_on_failure_leave_the_run_failed(rt):
    def fail(ctx):
        raise ValueError("the real error")

    def on_failure(context):
        raise KeyError("compensation broke")

    def raise_(event):
        raise RuntimeError(f"{event.type} hook broke")

    recorder = Recorder()
    hooks = recorder.hooks(on_run_failed=raise_, on_step_skipped=raise_)
    wf = (
        create_workflow("failing-hooks")
        .step("skipped", lambda ctx: 1, when=lambda ctx: False)
        .step("bad", fail)
        .on_failure(on_failure)
    )
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    run = engine.enqueue(wf, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("bad").error == "ValueError: the real error"
    wait_until(lambda: len(recorder.errors) == 3)
    by_source = {error.source: error for error in recorder.errors}
    assert set(by_source) == {"on_step_skipped hook", "on_run_failed hook", "on_failure handler"}
    assert all(isinstance(error, HookError) for error in recorder.errors)
    assert isinstance(by_source["on_failure handler"].__cause__, KeyError)
    assert str(by_source["on_run_failed hook"].__cause__) == "run_failed hook broke"


@pytest.mark.timeout(10)
def test_on_error_is_not_awaited(rt):
    on_error_entered = threading.Event()
    release = rt.gate()
    reported: list[BaseException] = []

    def on_error(error):
        on_error_entered.set()
        release.wait(5)
        reported.append(error)

    def raise_(event):
        raise RuntimeError("hook broke")

    hooks = Recorder().hooks(on_step_complete=raise_, on_error=on_error)
    wf = create_workflow("slow-on-error").step("a", lambda ctx: 1).step("b", lambda ctx: 2)
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert tick.result(timeout=3) == 1  # while on_error is still blocked
    assert engine.get_run_status(run.id).run.status == "completed"
    assert on_error_entered.wait(3)
    assert reported == []
    release.set()
    wait_until(lambda: len(reported) == 2)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("error", [KeyboardInterrupt("hook ^C"), SystemExit(2)])
def test_a_hook_raising_a_base_exception_is_reported_like_any_other(rt, error):
    def raise_(event):
        raise error

    recorder = Recorder()
    wf = create_workflow("base-hook").step("a", lambda ctx: 1).step("b", lambda ctx: 2)
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks(on_step_complete=raise_))
    run = engine.enqueue(wf, None)
    assert engine.tick() == 1
    assert engine.get_run_status(run.id).run.status == "completed"
    wait_until(lambda: len(recorder.errors) == 2)
    assert all(isinstance(e, HookError) and e.__cause__ is error for e in recorder.errors)
    later = engine.enqueue(wf, None)  # the engine keeps working
    assert engine.tick() == 1
    assert engine.get_run_status(later.id).run.status == "completed"


@pytest.mark.timeout(10)
def test_an_on_error_that_raises_is_swallowed(rt):
    calls: list[BaseException] = []

    def on_error(error):
        calls.append(error)
        raise RuntimeError("on_error itself broke")

    def raise_(event):
        raise RuntimeError("hook broke")

    hooks = Recorder().hooks(on_step_complete=raise_, on_error=on_error)
    wf = create_workflow("raising-on-error").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    first = engine.enqueue(wf, None)
    assert engine.tick() == 1
    wait_until(lambda: len(calls) == 1)
    second = engine.enqueue(wf, None)
    assert engine.tick() == 1
    wait_until(lambda: len(calls) == 2)
    for run in (first, second):
        assert engine.get_run_status(run.id).run.status == "completed"
