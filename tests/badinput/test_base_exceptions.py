"""User code raising ``BaseException`` (``KeyboardInterrupt``, ``SystemExit``, custom) in a step.

pykka stops *every* actor in the process when a ``BaseException`` escapes one,
the host application's included. The engine contains it: raised by a handler
it is a failed attempt like any exception (the retry policy applies), then a
failed step whose error names the exception; raised by a ``when`` predicate it
fails the run at that step; raised by a hook or ``on_failure`` it becomes a
``HookError`` for ``on_error`` (and ``on_error`` raising one changes nothing).
Through all of it the engine goes on running runs, and the host's own actors
keep answering.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import Hooks, Retry, create_workflow
from reflow_actors.errors import HookError

from .conftest import wait_until


class HostShutdown(BaseException):
    """A BaseException subclass a host might define."""


RAISED = [
    pytest.param(
        KeyboardInterrupt("ctrl-c in a step"), "KeyboardInterrupt", id="KeyboardInterrupt"
    ),
    pytest.param(SystemExit(3), "SystemExit", id="SystemExit"),
    pytest.param(HostShutdown("going down"), "HostShutdown", id="custom"),
]


def _raiser(error, calls=None):
    def handler(ctx):
        if calls is not None:
            calls.append(ctx.attempt)
        raise error

    return handler


def _still_healthy(engine, host):
    healthy = create_workflow("healthy").step("s", lambda ctx: "fine")
    run = engine.enqueue(healthy, None)
    assert engine.wait(run.id, timeout=5).run.status == "completed"
    assert host.ask("ping", timeout=2) == "pong"
    assert threading.main_thread().is_alive()


@pytest.mark.timeout(15)
@pytest.mark.parametrize(("error", "name"), RAISED)
def test_a_handler_raising_a_base_exception_is_a_failed_attempt_and_the_engine_survives(
    bench, host, error, name
):
    calls: list[int] = []
    failures = []
    bad = (
        create_workflow("bad")
        .step("explode", _raiser(error, calls), retry=Retry(max_attempts=2, initial_delay=0))
        .on_failure(failures.append)
    )
    healthy = create_workflow("healthy").step("s", lambda ctx: "fine")
    engine = bench.engine(bench.sqlite(), [bad, healthy], concurrency=2)
    engine.start(poll_interval=0.05)
    run = engine.enqueue(bad, None)
    info = engine.wait(run.id, timeout=5)
    assert info.run.status == "failed"
    step = info.step("explode")
    assert (step.status, step.attempts) == ("failed", 2)
    assert step.error.startswith(name)
    assert calls == [1, 2], "a BaseException counts as a failed attempt; the policy retries it"
    wait_until(lambda: failures, what="on_failure")
    assert isinstance(failures[0].error, type(error))
    _still_healthy(engine, host)
    assert bench.errors.seen == []


@pytest.mark.timeout(15)
def test_a_when_predicate_raising_keyboard_interrupt_fails_the_run_at_that_step(bench, host):
    def predicate(ctx):
        raise KeyboardInterrupt("in when")

    workflow = (
        create_workflow("conditional")
        .step("first", lambda ctx: 1)
        .step("guarded", lambda ctx: 2, when=predicate)
        .step("never", lambda ctx: 3)
    )
    healthy = create_workflow("healthy").step("s", lambda ctx: "fine")
    engine = bench.engine(bench.memory(), [workflow, healthy])
    engine.start(poll_interval=0.05)
    run = engine.enqueue(workflow, None)
    info = engine.wait(run.id, timeout=5)
    assert info.run.status == "failed"
    assert [(s.name, s.status) for s in info.steps] == [
        ("first", "completed"),
        ("guarded", "failed"),
    ]
    assert info.step("guarded").error.startswith("KeyboardInterrupt")
    _still_healthy(engine, host)


@pytest.mark.timeout(15)
@pytest.mark.parametrize(("error", "name"), RAISED)
def test_hooks_and_on_failure_raising_a_base_exception_become_hook_errors(bench, host, error, name):
    workflow = (
        create_workflow("noisy")
        .step("ok", lambda ctx: "done")
        .step("fail", _raiser(ValueError("real failure")))
        .on_failure(_raiser(error))
    )
    hooks = Hooks(on_step_complete=_raiser(error), on_error=bench.errors)
    healthy = create_workflow("healthy").step("s", lambda ctx: "fine")
    engine = bench.engine(bench.memory(), [workflow, healthy], hooks=hooks)
    engine.start(poll_interval=0.05)
    run = engine.enqueue(workflow, None)
    info = engine.wait(run.id, timeout=5)
    assert info.run.status == "failed"
    assert info.step("ok").output == "done"
    assert info.step("fail").error == "ValueError: real failure"
    wait_until(lambda: len(bench.errors.of(HookError)) >= 2, what="two hook errors")
    found = list(bench.errors.seen)
    assert sorted(e.source for e in found) == ["on_failure handler", "on_step_complete hook"]
    assert all(type(e.__cause__).__name__ == name for e in found)
    bench.errors.seen.clear()
    _still_healthy(engine, host)


@pytest.mark.timeout(15)
def test_an_on_error_hook_raising_keyboard_interrupt_changes_nothing(bench, host):
    raised = []

    def on_error(error):
        raised.append(error)
        raise KeyboardInterrupt("from on_error")

    workflow = create_workflow("reported").step("a", lambda ctx: 1).step("b", lambda ctx: 2)
    healthy = create_workflow("healthy").step("s", lambda ctx: "fine")
    hooks = Hooks(on_step_complete=_raiser(ValueError("report me")), on_error=on_error)
    engine = bench.engine(bench.memory(), [workflow, healthy], hooks=hooks)
    engine.start(poll_interval=0.05)
    for _ in range(3):
        run = engine.enqueue(workflow, None)
        assert engine.wait(run.id, timeout=5).run.status == "completed"
    wait_until(lambda: len(raised) >= 6, what="every hook error reported")
    assert all(isinstance(error, HookError) for error in raised)
    _still_healthy(engine, host)  # its step's hook error is reported (and raises) too
