"""The Dispatcher's public messages: ``Enqueue``, ``Cancel``, ``SendEvent``, ``Tick``.

Covers the ``dispatcher`` row of API.md "Engine" and "Details the contract
fixes" (messages are frozen dataclasses with positional arguments; ``ask``
returns what the matching method returns) and the messages module: ``ask`` of
a bad ``Enqueue`` raises its ``ReflowError``, a told one goes to ``on_error``
and the dispatcher keeps serving, and another pykka actor can drive the engine.
"""

from __future__ import annotations

import dataclasses
import threading

import pykka
import pytest

from reflow_actors import WorkflowRun, create_workflow
from reflow_actors.errors import InputValidationError, ReflowError, WorkflowNotFoundError
from reflow_actors.messages import Cancel, Enqueue, SendEvent, Tick
from reflow_actors.records import RunStatus

from .conftest import wait_until

pytestmark = pytest.mark.timeout(15)

ECHO = create_workflow("echo", input=int).step("a", lambda ctx: ctx.input + 1)
WAITS = create_workflow("waits").wait_for_event("go").step("after", lambda ctx: ctx.prev)


def test_messages_are_frozen_dataclasses_taking_positional_arguments():
    enqueue = Enqueue("echo", 1, "key")
    assert (enqueue.workflow, enqueue.input, enqueue.idempotency_key) == ("echo", 1, "key")
    assert Enqueue("echo", 1).idempotency_key is None
    assert Cancel("r").run_id == "r"
    event = SendEvent("r", "go")
    assert (event.run_id, event.name, event.payload) == ("r", "go", None)
    assert SendEvent("r", "go", {"p": 1}).payload == {"p": 1}
    Tick()
    with pytest.raises(dataclasses.FrozenInstanceError):
        enqueue.input = 2  # type: ignore[misc]


def test_ask_enqueue_returns_the_run_and_a_started_engine_executes_it(harness):
    engine = harness.engine([ECHO])
    engine.start(poll_interval=60)
    run = engine.dispatcher.ask(Enqueue("echo", "41"), timeout=5)
    assert isinstance(run, WorkflowRun)
    assert (run.workflow, run.input, run.status) == ("echo", 41, RunStatus.PENDING)
    info = engine.wait(run.id, timeout=5)
    assert info.step("a").output == 42


def test_ask_enqueue_honours_the_idempotency_key(harness):
    engine = harness.engine([ECHO])
    first = engine.dispatcher.ask(Enqueue(ECHO, 1, "same"), timeout=5)
    again = engine.dispatcher.ask(Enqueue(ECHO, 1, "same"), timeout=5)
    assert first.id == again.id
    assert len(engine.list_runs()) == 1


def test_ask_enqueue_with_bad_input_or_workflow_raises_its_reflow_error(harness):
    engine = harness.engine([ECHO])
    with pytest.raises(InputValidationError):
        engine.dispatcher.ask(Enqueue("echo", "not a number"), timeout=5)
    with pytest.raises(WorkflowNotFoundError):
        engine.dispatcher.ask(Enqueue("nope", 1), timeout=5)
    assert engine.list_runs() == []
    # The dispatcher survived both.
    assert engine.dispatcher.ask(Enqueue("echo", 1), timeout=5).input == 1


def test_a_told_bad_enqueue_goes_to_on_error_and_the_dispatcher_keeps_working(harness, recorder):
    engine = harness.engine([ECHO], hooks=recorder.hooks())
    engine.start(poll_interval=60)
    engine.dispatcher.tell(Enqueue("echo", "not a number"))
    wait_until(lambda: recorder.errors)
    (error,) = recorder.errors
    assert isinstance(error, InputValidationError)
    assert isinstance(error, ReflowError)

    engine.dispatcher.tell(Enqueue("echo", 5))
    wait_until(lambda: engine.list_runs(status="completed"))
    (run,) = engine.list_runs()
    assert engine.get_run_status(run.id).step("a").output == 6


def test_ask_cancel_returns_whether_the_run_was_cancelled(harness):
    engine = harness.engine([ECHO])
    run = engine.enqueue(ECHO, 1)
    assert engine.dispatcher.ask(Cancel(run.id), timeout=5) is True
    assert engine.get_run_status(run.id).run.status == RunStatus.CANCELLED
    assert engine.dispatcher.ask(Cancel(run.id), timeout=5) is False
    assert engine.dispatcher.ask(Cancel("no-such-run"), timeout=5) is False


def test_ask_send_event_delivers_to_a_waiting_run(harness):
    engine = harness.engine([WAITS])
    run = engine.enqueue(WAITS, None)
    engine.tick()
    assert engine.get_run_status(run.id).run.status == RunStatus.WAITING
    assert engine.dispatcher.ask(SendEvent(run.id, "go", {"ok": True}), timeout=5) is True
    assert engine.dispatcher.ask(SendEvent("no-such-run", "go"), timeout=5) is False
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert info.step("after").output == {"ok": True}


def test_ask_tick_returns_how_many_it_claimed_without_waiting_for_the_runs(harness):
    release = threading.Event()
    entered = threading.Semaphore(0)

    def hold(ctx):
        entered.release()
        release.wait(5)
        return "done"

    wf = create_workflow("held").step("a", hold)
    engine = harness.engine([wf], concurrency=2)
    runs = [engine.enqueue(wf, n) for n in range(3)]
    try:
        assert engine.dispatcher.ask(Tick(), timeout=5) == 2
        assert entered.acquire(timeout=5)
        assert entered.acquire(timeout=5)
        running = engine.list_runs(status="running")
        assert len(running) == 2
        assert engine.dispatcher.ask(Tick(), timeout=5) == 0  # no free slot
    finally:
        release.set()
    for run in runs[:2]:
        assert engine.wait(run.id, timeout=5).run.status == RunStatus.COMPLETED
    assert engine.get_run_status(runs[2].id).run.status == RunStatus.PENDING


class Forwarder(pykka.ThreadingActor):
    """A user actor that turns its own messages into engine commands."""

    def __init__(self, dispatcher: pykka.ActorRef) -> None:
        super().__init__()
        self.dispatcher = dispatcher

    def on_receive(self, message):
        if message == "order":
            self.dispatcher.tell(Enqueue("echo", 99))


def test_another_actor_can_drive_the_engine_by_telling_the_dispatcher(harness):
    engine = harness.engine([ECHO])
    engine.start(poll_interval=60)
    forwarder = Forwarder.start(engine.dispatcher)
    try:
        forwarder.tell("order")
        wait_until(lambda: engine.list_runs(status="completed"))
    finally:
        forwarder.stop()
    (run,) = engine.list_runs()
    assert engine.get_run_status(run.id).step("a").output == 100
