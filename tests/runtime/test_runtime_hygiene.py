"""Runtime hygiene: no engine thread outlives ``stop()``, threads are named after what
they run, a handler raising ``KeyboardInterrupt`` / ``SystemExit`` / a custom
``BaseException`` fails its run cleanly without harming the engine or the host's own
pykka actors, and a sync handler hanging past its timeout does not block ``stop()``
(STYLE.md "Failure containment under pykka"; API.md Engine, Retry and timeouts).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pykka
import pytest

from reflow_actors import Branch, create_workflow
from reflow_actors.errors import StepTimeoutError

from .conftest import Recorder, drain, wait_until


def _new_threads(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.mark.timeout(15)
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_no_engine_thread_outlives_stop(rt, backend):
    async def async_step(ctx):
        await asyncio.sleep(0.01)
        return ctx.prev

    reported: list[BaseException] = []

    async def async_hook(event):
        await asyncio.sleep(0)

    def raising_hook(event):
        raise RuntimeError("hook broke")

    async def on_error(error):
        await asyncio.sleep(0)
        reported.append(error)

    wf = (
        create_workflow("busy")
        .step("sync", lambda ctx: {"n": 1})
        .step("async", async_step)
        .parallel({"p": lambda ctx: 1, "q": async_step, "r": lambda ctx: 3})
        .step("when", lambda ctx: 0, when=lambda ctx: False)
    )
    storage = rt.memory() if backend == "memory" else rt.sqlite()
    storage.initialize()
    before = set(threading.enumerate())
    recorder = Recorder()
    engine = rt.engine(
        storage,
        [wf],
        concurrency=3,
        hooks=recorder.hooks(
            on_step_complete=async_hook, on_run_complete=raising_hook, on_error=on_error
        ),
    )
    with engine.stream(buffer_size=2) as bounded, engine.stream() as unbounded:
        engine.start(poll_interval=0.05)
        runs = [engine.enqueue(wf, None) for _ in range(4)]
        consumer = rt.bg(lambda: list(bounded))
        for run in runs:
            assert engine.wait(run.id, timeout=5).run.status == "completed"
        wait_until(lambda: len(reported) == 4)  # on_error ran for each raising hook
        assert _new_threads(before), "the engine started no thread at all?"
        engine.stop(timeout=5)
        consumer.result(timeout=3)
        drain(unbounded)
    assert _new_threads(before) == []


@pytest.mark.timeout(10)
def test_threads_are_named_after_the_run_and_step_they_execute(rt):
    entered = threading.Event()
    names: dict[str, str] = {}

    def step(ctx):
        names["handler"] = threading.current_thread().name
        entered.set()
        ctx.signal.wait(10)
        return "ok"

    wf = create_workflow("named").step("name-me", step)
    engine = rt.engine(rt.memory(), [wf])
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert entered.wait(5)
    alive = [thread.name for thread in threading.enumerate()]
    engine.cancel(run.id)
    tick.result(timeout=3)
    assert f"RunSupervisor[{run.id}]" in alive
    assert "name-me" in names["handler"]
    assert run.id in names["handler"]


class HostActor(pykka.ThreadingActor):
    """One of the host application's own actors."""

    def on_receive(self, message: Any) -> Any:
        return "pong" if message == "ping" else None


class HostShutdown(BaseException):
    """A custom BaseException a host application might raise."""


def _raise(error: BaseException):
    def handler(ctx):
        raise error

    return handler


BASE_EXCEPTIONS = [
    (KeyboardInterrupt("ctrl-c"), "KeyboardInterrupt"),
    (SystemExit(3), "SystemExit"),
    (HostShutdown("host going down"), "HostShutdown"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("error", "name"), BASE_EXCEPTIONS)
def test_a_handler_raising_a_base_exception_fails_its_run_cleanly(rt, error, name):
    host = HostActor.start()
    try:
        recorder = Recorder()
        bad = create_workflow("bad").step("explode", _raise(error))
        good = create_workflow("good").step("fine", lambda ctx: "still working")
        engine = rt.engine(rt.memory(), [bad, good], hooks=recorder.hooks())
        failed = engine.enqueue(bad, None)
        assert engine.tick() == 1
        info = engine.get_run_status(failed.id)
        assert info.run.status == "failed"
        assert info.step("explode").status == "failed"
        assert info.step("explode").error.startswith(name)
        [event] = recorder.of("run_failed")
        assert isinstance(event.error, type(error))

        later = engine.enqueue(good, None)
        assert engine.tick() == 1
        assert engine.get_run_status(later.id).run.status == "completed"
        engine.stop(timeout=5)
        assert host.is_alive()
        assert host.ask("ping", timeout=2) == "pong"
    finally:
        host.stop()


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("error", "name"), BASE_EXCEPTIONS)
def test_an_async_handler_raising_a_base_exception_fails_its_run_cleanly(rt, error, name):
    host = HostActor.start()
    try:

        async def explode(ctx):
            await asyncio.sleep(0)
            raise error

        bad = create_workflow("bad-async").step("explode", explode)
        good = create_workflow("good-async").step("fine", lambda ctx: "ok")
        engine = rt.engine(rt.memory(), [bad, good])
        failed = engine.enqueue(bad, None)
        assert engine.tick() == 1
        info = engine.get_run_status(failed.id)
        assert info.run.status == "failed"
        assert info.step("explode").error.startswith(name)
        later = engine.enqueue(good, None)
        assert engine.tick() == 1
        assert engine.get_run_status(later.id).run.status == "completed"
        engine.stop(timeout=5)
        assert host.is_alive()
        assert host.ask("ping", timeout=2) == "pong"
    finally:
        host.stop()


@pytest.mark.timeout(10)
def test_a_branch_raising_keyboard_interrupt_fails_the_group_cleanly(rt):
    host = HostActor.start()
    try:
        wf = create_workflow("bad-branch").parallel(
            {"ok": lambda ctx: 1, "explode": Branch(_raise(KeyboardInterrupt("in a branch")))}
        )
        recorder = Recorder()
        engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
        run = engine.enqueue(wf, None)
        assert engine.tick() == 1
        info = engine.get_run_status(run.id)
        assert info.run.status == "failed"
        assert info.step("explode").error.startswith("KeyboardInterrupt")
        assert [e.step_name for e in recorder.of("run_failed")] == ["explode"]
        engine.stop(timeout=5)
        assert host.is_alive()
        assert host.ask("ping", timeout=2) == "pong"
    finally:
        host.stop()


@pytest.mark.timeout(15)
def test_a_sync_handler_hanging_past_its_timeout_does_not_block_stop(rt):
    entered = threading.Event()
    release = rt.gate()
    returned = threading.Event()

    def hang(ctx):
        entered.set()
        release.wait(30)  # ignores its signal
        returned.set()
        return "late"

    recorder = Recorder()
    wf = create_workflow("hang").step("hang", hang, timeout=0.1)
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    assert rt.bg(engine.tick).result(timeout=3) == 1  # decided without the handler
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert "StepTimeoutError" in info.step("hang").error
    assert isinstance(recorder.of("run_failed")[0].error, StepTimeoutError)
    assert not returned.is_set()

    started = time.monotonic()
    rt.bg(engine.stop).result(timeout=5)  # no timeout given: stop must not wait for it
    assert time.monotonic() - started < 5
    release.set()
    assert returned.wait(5)


def _raising_predicate(kind: str):
    if kind == "sync":

        def when(ctx):
            raise HostShutdown("predicate")

        return when

    async def async_when(ctx):
        raise HostShutdown("predicate")

    return async_when


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "kind",
    [
        "sync",
        "async",
    ],
)
def test_a_when_predicate_raising_a_base_exception_fails_its_run_cleanly(rt, kind):
    wf = (
        create_workflow("bad-when")
        .step("a", lambda ctx: 1)
        .step("b", lambda ctx: 2, when=_raising_predicate(kind))
    )
    good = create_workflow("good").step("fine", lambda ctx: "ok")
    engine = rt.engine(rt.memory(), [wf, good], hooks=Recorder().hooks())
    run = engine.enqueue(wf, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("b").status == "failed"
    assert info.step("b").error.startswith("HostShutdown")
    later = engine.enqueue(good, None)
    assert engine.tick() == 1
    assert engine.get_run_status(later.id).run.status == "completed"
