"""``wait_for_event`` and ``send_event`` (reflow-ts §17 WE) on a virtual clock.

Delivery is durable and order-independent: an event sent before the run
reaches its wait is buffered and consumed there; a waiting run holds no slot;
a timeout fails the run with ``WaitTimeoutError`` and ``on_failure`` (and a
resumed run waits again with a fresh deadline); any event wakes a waiting run
and the wrong one re-parks it with its deadline intact; ``send_event`` checks
the run, its state, the event name and the payload in that order; cancelled
runs refuse events. Payloads: test_event_payloads.py; races and started
engines: test_event_delivery.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from reflow_actors import (
    Hooks,
    RunFailed,
    RunStatus,
    StepComplete,
    StepStatus,
    create_workflow,
)
from reflow_actors.errors import ConfigError, InputValidationError, WaitTimeoutError
from tests.durable.conftest import (
    HOUR,
    START_MS,
    Durable,
    describe,
    drain,
    info_of,
    output_of,
    row,
    status_of,
)


def _approval_flow(**wait: Any) -> Any:
    return (
        create_workflow("approval-flow")
        .step("begin", lambda ctx: {"order": ctx.input})
        .wait_for_event("approval", **wait)
        .step("finish", lambda ctx: {"prev": ctx.prev})
    )


@pytest.mark.timeout(20)
def test_a_wait_suspends_until_the_event_arrives_and_its_payload_becomes_prev(
    durable: Durable, storage_kind: str
) -> None:
    workflow = _approval_flow()
    engine = durable.engine(durable.storage(storage_kind), [workflow])
    run = engine.enqueue(workflow, "o-1")

    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.WAITING
    parked = row(info, "approval")
    assert (parked.status, parked.output) == (StepStatus.WAITING, None)  # no deadline
    assert engine.tick() == 0

    assert engine.send_event(run.id, "approval", {"approved_by": "alice"}) is True
    assert status_of(engine, run.id) is RunStatus.PENDING
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "approval").status is StepStatus.COMPLETED
    assert row(info, "approval").output == {"approved_by": "alice"}
    assert row(info, "finish").output == {"prev": {"approved_by": "alice"}}


@pytest.mark.timeout(10)
def test_an_event_sent_before_the_first_tick_is_buffered_and_consumed_at_the_wait(
    durable: Durable,
) -> None:
    workflow = _approval_flow()
    engine = durable.engine(durable.memory(), [workflow])
    stream = durable.stream(engine)
    run = engine.enqueue(workflow, None)
    assert engine.send_event(run.id, "approval", {"value": 42}) is True

    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "finish").output == {"prev": {"value": 42}}
    events = drain(stream)
    waits = [e for e in events if getattr(e, "step_name", None) == "approval"]
    assert describe(waits) == [("step_start", "approval"), ("step_complete", "approval")]
    consumed = waits[1]
    assert isinstance(consumed, StepComplete)
    assert (consumed.output, consumed.attempts) == ({"value": 42}, 0)


@pytest.mark.timeout(10)
def test_an_event_sent_while_an_earlier_step_runs_is_consumed_without_suspending(
    durable: Durable,
) -> None:
    engines: list[Any] = []

    def begin(ctx: Any) -> str:
        assert engines[0].send_event(ctx.run_id, "approval", "early") is True
        return "begun"

    workflow = (
        create_workflow("self-approving")
        .step("begin", begin)
        .wait_for_event("approval")
        .step("finish", lambda ctx: ctx.prev)
    )
    engines.append(durable.engine(durable.sqlite(), [workflow]))
    run = engines[0].enqueue(workflow, None)
    assert engines[0].tick() == 1
    assert output_of(engines[0], run.id, "finish") == "early"


@pytest.mark.timeout(10)
def test_sequential_waits_each_consume_their_own_event(durable: Durable) -> None:
    workflow = (
        create_workflow("two-waits")
        .wait_for_event("first")
        .step("middle", lambda ctx: {"first": ctx.prev})
        .wait_for_event("second")
        .step("end", lambda ctx: {"first": ctx.steps["first"], "second": ctx.prev})
    )
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    engine.send_event(run.id, "first", {"n": 1})
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.WAITING
    assert row(info, "second").status is StepStatus.WAITING

    engine.send_event(run.id, "second", {"n": 2})
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "end").output == {"first": {"n": 1}, "second": {"n": 2}}


@pytest.mark.timeout(10)
def test_the_oldest_buffered_event_of_a_name_is_consumed_first(durable: Durable) -> None:
    workflow = _approval_flow()
    engine = durable.engine(durable.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.send_event(run.id, "approval", {"n": 1})
    durable.clock.advance(0.001)
    engine.send_event(run.id, "approval", {"n": 2})
    engine.tick()
    assert output_of(engine, run.id, "finish") == {"prev": {"n": 1}}


@pytest.mark.timeout(15)
def test_a_wait_that_times_out_fails_the_run_with_wait_timeout_error(
    durable: Durable, storage_kind: str
) -> None:
    failures: list[Any] = []
    run_failed: list[RunFailed] = []
    workflow: Any = (
        create_workflow("deadline")
        .step("begin", lambda ctx: 1)
        .wait_for_event("never", timeout=60)
        .step("unreached", lambda ctx: pytest.fail("the wait timed out"))
        .on_failure(failures.append)
    )
    hooks = Hooks(on_run_failed=run_failed.append)
    engine = durable.engine(durable.storage(storage_kind), [workflow], hooks=hooks)
    run = engine.enqueue(workflow, {"k": "v"})
    engine.tick()
    info = info_of(engine, run.id)
    assert row(info, "never").output == START_MS + 60_000  # the deadline, pinned in the row

    durable.clock.advance(59.999)
    assert engine.tick() == 0
    durable.clock.advance(0.001)
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.FAILED
    timed_out = row(info, "never")
    assert timed_out.status is StepStatus.FAILED
    assert str(timed_out.error).startswith("WaitTimeoutError:")
    assert info.step("unreached") is None

    assert len(failures) == 1
    assert isinstance(failures[0].error, WaitTimeoutError)
    assert (failures[0].error.event_name, failures[0].error.timeout) == ("never", 60)
    assert (failures[0].step_name, failures[0].input) == ("never", {"k": "v"})
    assert [(e.step_name, type(e.error)) for e in run_failed] == [("never", WaitTimeoutError)]
    assert engine.send_event(run.id, "never", None) is False


@pytest.mark.timeout(10)
def test_an_event_before_the_deadline_is_honoured(durable: Durable) -> None:
    workflow = _approval_flow(timeout="1m")
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    durable.clock.advance(30)
    engine.send_event(run.id, "approval", {"ok": True})
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "finish").output == {"prev": {"ok": True}}


@pytest.mark.timeout(10)
def test_a_wait_without_a_timeout_waits_indefinitely(durable: Durable) -> None:
    workflow = _approval_flow()
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    durable.clock.advance(366 * 24 * HOUR)
    assert engine.tick() == 0
    assert status_of(engine, run.id) is RunStatus.WAITING


@pytest.mark.timeout(10)
def test_send_event_checks_run_then_terminal_then_name_then_payload(durable: Durable) -> None:
    attempts: list[int] = []

    def flaky(ctx: Any) -> str:
        attempts.append(ctx.attempt)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")
        return "ok"

    workflow = (
        create_workflow("ordered")
        .step("flaky", flaky)
        .wait_for_event("go", schema=lambda v: v if isinstance(v, int) else int("x"))
        .step("done", lambda ctx: ctx.prev)
    )
    engine = durable.engine(durable.memory(), [workflow])
    assert engine.send_event("no-such-run", "nope", "bad") is False

    failed = engine.enqueue(workflow, None)
    engine.tick()
    assert status_of(engine, failed.id) is RunStatus.FAILED
    assert engine.send_event(failed.id, "nope", "bad") is False  # terminal beats unknown name
    assert engine.send_event(failed.id, "go", 1) is False  # and buffers nothing

    assert engine.resume(failed.id) is True
    with pytest.raises(ConfigError, match='"nope"'):
        engine.send_event(failed.id, "nope", 1)  # live run: the name is checked
    with pytest.raises(InputValidationError):
        engine.send_event(failed.id, "go", "bad")  # then the payload
    engine.tick()
    assert status_of(engine, failed.id) is RunStatus.WAITING  # the refused "go" was not kept


@pytest.mark.timeout(10)
def test_any_event_wakes_a_waiting_run_and_the_wrong_one_parks_it_again(
    durable: Durable,
) -> None:
    workflow = (
        create_workflow("picky")
        .wait_for_event("first", timeout="1h")
        .wait_for_event("second")
        .step("end", lambda ctx: [ctx.steps["first"], ctx.prev])
    )
    engine = durable.engine(durable.memory(), [workflow])
    stream = durable.stream(engine)
    run = engine.enqueue(workflow, None)
    engine.tick()
    durable.clock.advance(600)

    assert engine.send_event(run.id, "second", "b") is True
    assert status_of(engine, run.id) is RunStatus.PENDING
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.WAITING
    assert row(info, "first").output == START_MS + 3_600_000  # the deadline did not move
    starts = [e for e in drain(stream) if e.type == "step_start"]
    assert [e.step_name for e in starts] == ["first"]

    engine.send_event(run.id, "first", "a")
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "end").output == ["a", "b"]


@pytest.mark.timeout(15)
def test_an_engine_on_another_connection_delivers_the_event_and_resumes_the_run(
    durable: Durable,
) -> None:
    workflow = _approval_flow()
    owner = durable.engine(durable.sqlite("events.db"), [workflow])
    other = durable.engine(durable.sqlite("events.db"), [workflow])
    run = owner.enqueue(workflow, None)
    owner.tick()

    assert other.send_event(run.id, "approval", {"by": "other"}) is True
    assert other.tick() == 1
    assert output_of(owner, run.id, "finish") == {"prev": {"by": "other"}}


@pytest.mark.timeout(10)
def test_a_cancelled_waiting_run_refuses_events_and_stays_cancelled(durable: Durable) -> None:
    failures: list[Any] = []
    workflow = _approval_flow(timeout="1h").on_failure(failures.append)
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()

    assert engine.cancel(run.id) is True
    assert engine.send_event(run.id, "approval", {"late": True}) is False
    durable.clock.advance(2 * HOUR)
    assert engine.tick() == 0
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.CANCELLED
    assert info.step("finish") is None
    assert failures == []


@pytest.mark.timeout(10)
def test_a_waiting_run_releases_its_slot_to_other_runs(durable: Durable) -> None:
    waiting_flow = _approval_flow()
    quick = create_workflow("quick").step("only", lambda ctx: "done")
    engine = durable.engine(durable.memory(), [waiting_flow, quick], concurrency=1)
    waiting = engine.enqueue(waiting_flow, None)
    assert engine.tick() == 1
    other = engine.enqueue(quick, None)
    assert engine.tick() == 1
    assert status_of(engine, other.id) is RunStatus.COMPLETED
    assert status_of(engine, waiting.id) is RunStatus.WAITING


@pytest.mark.timeout(10)
def test_a_run_resumed_after_a_wait_timeout_waits_again_with_a_fresh_deadline(
    durable: Durable,
) -> None:
    workflow = _approval_flow(timeout="1h")
    engine = durable.engine(durable.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    durable.clock.advance(HOUR)
    engine.tick()
    assert status_of(engine, run.id) is RunStatus.FAILED

    durable.clock.advance(HOUR)
    assert engine.resume(run.id) is True
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.WAITING
    assert row(info, "approval").output == START_MS + 3 * 3_600_000
    assert row(info, "begin").attempts == 1  # the completed step was kept, not re-run

    engine.send_event(run.id, "approval", "late but fine")
    engine.tick()
    assert output_of(engine, run.id, "finish") == {"prev": "late but fine"}


@pytest.mark.timeout(10)
def test_an_event_sent_during_a_sleep_is_kept_and_does_not_cut_the_sleep_short(
    durable: Durable,
) -> None:
    workflow = (
        create_workflow("nap-then-wait")
        .sleep("nap", "1h")
        .wait_for_event("e")
        .step("end", lambda ctx: ctx.prev)
    )
    engine = durable.engine(durable.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    assert engine.send_event(run.id, "e", "early") is True
    assert status_of(engine, run.id) is RunStatus.SLEEPING  # only a waiting run is woken
    assert engine.tick() == 0

    durable.clock.advance(HOUR)
    assert engine.tick() == 1
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED  # the buffered event was consumed at once
    assert row(info, "end").output == "early"
