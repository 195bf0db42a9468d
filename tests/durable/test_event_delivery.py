"""Event delivery under races and on a started engine (reflow-ts WE-12, WE-13).

* An event taken by a run that then loses its lease is put back, so the next
  owner consumes it (WE-12).
* An event delivered after the run looked for it but before it parked is not
  lost: parking re-checks the buffer in the same transaction (WE-13).
* A started engine resumes a waiting run as soon as an event is sent, not at
  its next poll, and times a wait out when its clock passes the deadline; the
  ``on_failure`` that follows runs to completion however long it takes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from reflow_actors import RunStatus, StepStatus, SystemClock, create_workflow
from reflow_actors.errors import WaitTimeoutError
from reflow_actors.messages import SendEvent
from tests.durable.conftest import (
    HOUR,
    Durable,
    info_of,
    intercept,
    row,
    status_of,
    wait_until,
)


def _flow(wait_is_last: bool) -> Any:
    workflow = create_workflow("restore").step("begin", lambda ctx: "b").wait_for_event("e")
    if wait_is_last:
        return workflow
    return workflow.step("finish", lambda ctx: {"got": ctx.prev})


@pytest.mark.timeout(15)
@pytest.mark.parametrize("path", ["take-then-save", "atomic-consume"])
def test_an_event_is_not_lost_when_the_lease_is_lost_as_the_wait_consumes_it(
    durable: Durable, storage_kind: str, path: str
) -> None:
    """WE-12. Without ``consume_event`` the engine takes the event, then saves the
    wait's row; if that save finds the lease gone the event must be put back. With
    ``consume_event`` (both built-in adapters) the take is refused atomically."""
    failures: list[Any] = []
    workflow = _flow(wait_is_last=False).on_failure(failures.append)
    inner = durable.storage(storage_kind)
    storage = intercept(inner, fast_paths=path == "atomic-consume")
    engine = durable.engine(storage, [workflow], lease_duration=30)
    run = engine.enqueue(workflow, None)
    engine.tick()
    assert status_of(engine, run.id) is RunStatus.WAITING
    engine.send_event(run.id, "e", {"value": 7})

    def take_then_lose_the_lease(call: Any, run_id: str, name: str) -> Any:
        del storage.around["take_event"]
        taken = call(run_id, name)
        inner.update_run_status(run_id, RunStatus.RUNNING)  # someone else owns it now
        return taken

    def lose_the_lease_then_consume(call: Any, run_id: str, *args: Any) -> Any:
        del storage.around["consume_event"]
        inner.update_run_status(run_id, RunStatus.RUNNING)
        return call(run_id, *args)

    if path == "atomic-consume":
        storage.around["consume_event"] = lose_the_lease_then_consume
    else:
        storage.around["take_event"] = take_then_lose_the_lease
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.RUNNING  # halted, not failed
    assert row(info, "e").status is StepStatus.WAITING
    assert storage.around == {}  # the lease really was lost where the test meant it
    assert failures == []

    durable.clock.advance(31)  # the lease is stale: the run is reclaimed
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "e").output == {"value": 7}
    assert row(info, "finish").output == {"got": {"value": 7}}


@pytest.mark.timeout(15)
def test_an_event_delivered_while_the_run_parks_is_not_lost(
    durable: Durable, storage_kind: str
) -> None:
    workflow = _flow(wait_is_last=False)
    inner = durable.storage(storage_kind)
    storage = intercept(inner)
    engine = durable.engine(storage, [workflow])
    run = engine.enqueue(workflow, None)

    def deliver_just_before_parking(call: Any, run_id: str, *args: Any) -> Any:
        del storage.around["wait_run"]
        # The run is still "running" here, so the delivery itself wakes nothing.
        assert inner.deliver_event(run_id, "e", {"raced": True}) is True
        return call(run_id, *args)

    storage.around["wait_run"] = deliver_just_before_parking
    assert engine.tick() == 1
    assert status_of(engine, run.id) is RunStatus.PENDING  # claimable, not waiting for ever

    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "finish").output == {"got": {"raced": True}}


@pytest.mark.timeout(15)
@pytest.mark.parametrize("via", ["engine", "dispatcher"])
def test_a_started_engine_resumes_a_waiting_run_as_soon_as_the_event_is_sent(
    durable: Durable, via: str
) -> None:
    real = SystemClock()
    poll_interval = 60.0
    workflow = _flow(wait_is_last=False)
    engine = durable.engine(durable.memory(clock=real), [workflow], clock=real)
    engine.start(poll_interval=poll_interval)
    run = engine.enqueue(workflow, None)
    wait_until(lambda: status_of(engine, run.id) is RunStatus.WAITING, message="the run to wait")

    sent = time.monotonic()
    if via == "engine":
        assert engine.send_event(run.id, "e", "now") is True
    else:
        assert engine.dispatcher.ask(SendEvent(run.id, "e", "now"), timeout=5) is True
    info = engine.wait(run.id, timeout=5)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "finish").output == {"got": "now"}
    assert time.monotonic() - sent < 5 < poll_interval


@pytest.mark.timeout(15)
def test_a_started_engine_times_out_a_wait_when_its_clock_passes_the_deadline(
    durable: Durable,
) -> None:
    failures: list[Any] = []
    workflow = (
        create_workflow("started-deadline")
        .wait_for_event("e", timeout="1h")
        .step("never", lambda ctx: "unreached")
        .on_failure(failures.append)
    )
    engine = durable.engine(durable.memory(), [workflow])
    engine.start(poll_interval=7 * 24 * HOUR)
    run = engine.enqueue(workflow, None)
    wait_until(lambda: status_of(engine, run.id) is RunStatus.WAITING, message="the run to wait")

    durable.clock.advance(HOUR)
    info = engine.wait(run.id, timeout=5)
    assert info.run.status is RunStatus.FAILED
    assert str(row(info, "e").error).startswith("WaitTimeoutError:")
    wait_until(lambda: len(failures) == 1, message="on_failure")
    assert isinstance(failures[0].error, WaitTimeoutError)


@pytest.mark.timeout(15)
def test_an_on_failure_slower_than_the_heartbeat_runs_to_completion(durable: Durable) -> None:
    real = SystemClock()
    compensated: list[str] = []

    async def compensate(ctx: Any) -> None:
        await asyncio.sleep(1.0)  # ten heartbeat intervals
        compensated.append(ctx.step_name)

    workflow = (
        create_workflow("slow-compensation")
        .wait_for_event("e", timeout=0.05)
        .step("never", lambda ctx: "unreached")
        .on_failure(compensate)
    )
    engine = durable.engine(durable.memory(clock=real), [workflow], clock=real, lease_duration=0.6)
    engine.start(poll_interval=60)
    run = engine.enqueue(workflow, None)
    assert engine.wait(run.id, timeout=5).run.status is RunStatus.FAILED
    wait_until(lambda: compensated == ["e"], timeout=2.5, message="on_failure to finish")
