"""Event payloads: validated once at ``send_event``, stored durably, handed on as ``prev``.

An invalid payload raises ``InputValidationError`` and nothing is stored (the
run neither consumes nor wakes for it); a schema's transformed value is what
is stored, and it is not validated again on consume; an asynchronous schema
is refused; ``None`` and datetimes are payloads like any other; a model
schema gives the next step a model instance, as it does for workflow input.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from reflow_actors import RunStatus, create_workflow
from reflow_actors.errors import ConfigError, InputValidationError
from tests.durable.conftest import Durable, info_of, output_of, row, status_of


def _approval_flow(**wait: Any) -> Any:
    return (
        create_workflow("approval-flow")
        .step("begin", lambda ctx: {"order": ctx.input})
        .wait_for_event("approval", **wait)
        .step("finish", lambda ctx: {"prev": ctx.prev})
    )


class Approval(BaseModel):
    approved_by: str


@pytest.mark.timeout(10)
def test_an_event_without_a_payload_resumes_the_run_with_prev_none(durable: Durable) -> None:
    workflow = _approval_flow()
    engine = durable.engine(durable.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    assert engine.send_event(run.id, "approval") is True
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    assert row(info, "finish").output == {"prev": None}


@pytest.mark.timeout(10)
def test_an_invalid_payload_is_refused_at_send_time_and_nothing_is_stored(
    durable: Durable,
) -> None:
    def amount(value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("amount"), int):
            raise ValueError("amount must be an int")
        return value

    workflow = _approval_flow(schema=amount)
    engine = durable.engine(durable.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    with pytest.raises(InputValidationError) as refused:
        engine.send_event(run.id, "approval", {"amount": "lots"})  # before the wait
    assert refused.value.issues
    assert "amount must be an int" in refused.value.issues[0]

    engine.tick()
    assert status_of(engine, run.id) is RunStatus.WAITING  # nothing was buffered to consume
    with pytest.raises(InputValidationError):
        engine.send_event(run.id, "approval", {"amount": "lots"})
    assert status_of(engine, run.id) is RunStatus.WAITING  # ... nor did it wake the run
    assert engine.tick() == 0

    assert engine.send_event(run.id, "approval", {"amount": 100}) is True
    engine.tick()
    assert output_of(engine, run.id, "finish") == {"prev": {"amount": 100}}


@pytest.mark.timeout(10)
def test_the_validated_value_is_stored_and_not_validated_again_on_consume(
    durable: Durable,
) -> None:
    calls: list[Any] = []

    def length(value: Any) -> int:
        calls.append(value)
        return len(value)

    workflow = _approval_flow(schema=length)
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.send_event(run.id, "approval", "hello")
    engine.tick()
    assert output_of(engine, run.id, "finish") == {"prev": 5}
    assert calls == ["hello"]


@pytest.mark.timeout(10)
def test_a_model_schema_gives_the_next_step_a_model_instance(durable: Durable) -> None:
    seen: list[Any] = []
    workflow = (
        create_workflow("typed-approval")
        .wait_for_event("approval", schema=Approval)
        .step("finish", lambda ctx: seen.append(ctx.prev))
    )
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.send_event(run.id, "approval", {"approved_by": "alice"})
    engine.tick()
    assert status_of(engine, run.id) is RunStatus.COMPLETED
    assert seen == [Approval(approved_by="alice")]
    assert isinstance(seen[0], Approval)


@pytest.mark.timeout(10)
def test_a_payload_stored_without_validation_that_the_schema_cannot_load_fails_the_run(
    durable: Durable,
) -> None:
    # send_event validates; a payload written straight to storage (e.g. by a tool)
    # is not. It must fail the run at the wait, not crash its supervisor forever.
    workflow = (
        create_workflow("unchecked-approval")
        .wait_for_event("approval", schema=Approval)
        .step("finish", lambda ctx: ctx.prev.approved_by)
    )
    storage = durable.memory()
    engine = durable.engine(storage, [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    storage.deliver_event(run.id, "approval", {"approved_by": 42, "unexpected": True})
    engine.tick()
    assert status_of(engine, run.id) is RunStatus.FAILED
    info = info_of(engine, run.id)
    wait = row(info, "approval")
    assert wait.status == "failed"
    assert wait.error is not None
    assert wait.error.startswith('InputValidationError: Event "approval" payload')
    assert info.step("finish") is None


@pytest.mark.timeout(10)
def test_an_asynchronous_schema_is_refused_at_send_time_and_nothing_is_stored(
    durable: Durable,
) -> None:
    async def later(value: Any) -> Any:
        return value

    workflow = _approval_flow(schema=later)
    engine = durable.engine(durable.memory(), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    with pytest.raises(ConfigError, match="synchronously"):
        engine.send_event(run.id, "approval", {"ok": True})
    assert status_of(engine, run.id) is RunStatus.WAITING
    assert engine.tick() == 0


@pytest.mark.timeout(10)
def test_a_datetime_in_a_payload_reaches_the_next_step_as_an_aware_datetime(
    durable: Durable, storage_kind: str
) -> None:
    workflow = _approval_flow()
    engine = durable.engine(durable.storage(storage_kind), [workflow])
    run = engine.enqueue(workflow, None)
    engine.tick()
    at = datetime(2026, 3, 10, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert engine.send_event(run.id, "approval", {"at": at}) is True
    engine.tick()
    info = info_of(engine, run.id)
    assert info.run.status is RunStatus.COMPLETED
    received = row(info, "finish").output["prev"]["at"]
    assert isinstance(received, datetime)
    assert received.tzinfo is not None
    assert received == at
