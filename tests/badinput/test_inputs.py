"""Bad input at the front door: each is refused with a specific error and nothing is written.

Invalid workflow input (pydantic, dataclass and callable schemas), input that
is valid but cannot be persisted, an unknown workflow name, an idempotency key
reused with other input, and bad events (an invalid payload, a name the
workflow does not wait for). Each is tried through every door that takes it
(``enqueue``, the Dispatcher's ``Enqueue`` message, ``schedule``,
``send_event``) on a SQLite file, whose tables are then counted with the
stdlib driver: no row may appear.
"""

from __future__ import annotations

import dataclasses
import math

import pydantic
import pytest

from reflow_actors import create_workflow
from reflow_actors.errors import (
    ConfigError,
    IdempotencyConflictError,
    InputValidationError,
    SerializationError,
    WorkflowNotFoundError,
)
from reflow_actors.messages import Enqueue, SendEvent

from .conftest import table_counts

EMPTY = {"workflow_runs": 0, "workflow_steps": 0, "workflow_events": 0, "workflow_schedules": 0}


class Order(pydantic.BaseModel):
    order_id: str
    quantity: int


@dataclasses.dataclass
class Signup:
    email: str


def _positive(value):
    if not isinstance(value, int) or value <= 0:
        raise ValueError("must be a positive int")
    return value


SCHEMAS = [
    pytest.param(Order, {"order_id": "o-1", "quantity": "many"}, "quantity", id="pydantic"),
    pytest.param(Signup, {"mail": "x@example.com"}, "mail", id="dataclass"),
    pytest.param(_positive, -3, "positive", id="callable"),
]


def _door(engine, door, workflow, value):
    if door == "enqueue":
        return engine.enqueue(workflow, value)
    if door == "message":
        return engine.dispatcher.ask(Enqueue(workflow.name, value), timeout=5)
    return engine.schedule(workflow, value, every="1h")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("door", ["enqueue", "message", "schedule"])
@pytest.mark.parametrize(("schema", "bad", "named"), SCHEMAS)
def test_invalid_input_raises_input_validation_error_and_writes_nothing(
    bench, schema, bad, named, door
):
    workflow = create_workflow("typed", input=schema).step("s", lambda ctx: "ran")
    storage = bench.sqlite()
    engine = bench.engine(storage, [workflow])
    with pytest.raises(InputValidationError) as raised:
        _door(engine, door, workflow, bad)
    assert raised.value.code == "VALIDATION"
    assert raised.value.issues, "issues name what is wrong"
    assert all(isinstance(issue, str) for issue in raised.value.issues)
    assert any(named in issue for issue in raised.value.issues), raised.value.issues
    assert table_counts(storage.path) == EMPTY
    assert bench.errors.seen == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"ratio": math.nan}, "input.ratio"),
        ({"tags": {"a", "b"}}, "input.tags"),
        ({"items": [1, 2, b"raw"]}, "input.items[2]"),
        ({1: "non-str key"}, "input"),
    ],
)
def test_input_that_cannot_be_persisted_raises_serialization_error_naming_the_path(
    bench, value, path
):
    workflow = create_workflow("untyped").step("s", lambda ctx: "ran")
    storage = bench.sqlite()
    engine = bench.engine(storage, [workflow])
    with pytest.raises(SerializationError) as raised:
        engine.enqueue(workflow, value)
    assert raised.value.path.startswith(path), raised.value.path
    assert table_counts(storage.path) == EMPTY


@pytest.mark.timeout(10)
@pytest.mark.parametrize("door", ["enqueue", "message", "schedule"])
def test_an_unknown_workflow_name_raises_workflow_not_found_and_writes_nothing(bench, door):
    known = create_workflow("known").step("s", lambda ctx: "ran")
    storage = bench.sqlite()
    engine = bench.engine(storage, [known])
    doors = {
        "enqueue": lambda: engine.enqueue("missing", {"x": 1}),
        "message": lambda: engine.dispatcher.ask(Enqueue("missing", {"x": 1}), timeout=5),
        "schedule": lambda: engine.schedule("missing", {"x": 1}, every="1h"),
    }
    with pytest.raises(WorkflowNotFoundError) as raised:
        doors[door]()
    assert raised.value.code == "WORKFLOW_NOT_FOUND"
    assert raised.value.workflow_name == "missing"
    assert table_counts(storage.path) == EMPTY


@pytest.mark.timeout(10)
def test_an_idempotency_key_reused_with_other_input_raises_conflict_and_writes_nothing(bench):
    workflow = create_workflow("keyed").step("s", lambda ctx: "ran")
    storage = bench.sqlite()
    engine = bench.engine(storage, [workflow])
    first = engine.enqueue(workflow, {"amount": 10}, idempotency_key="order-7")
    with pytest.raises(IdempotencyConflictError) as raised:
        engine.enqueue(workflow, {"amount": 11}, idempotency_key="order-7")
    assert raised.value.idempotency_key == "order-7"
    assert table_counts(storage.path) == {**EMPTY, "workflow_runs": 1}
    (only,) = engine.list_runs()
    assert (only.id, only.input) == (first.id, {"amount": 10})


class Approval(pydantic.BaseModel):
    approved: bool


@pytest.mark.timeout(10)
@pytest.mark.parametrize("door", ["send_event", "message"])
def test_an_invalid_event_payload_is_refused_and_never_buffered(bench, door):
    workflow = (
        create_workflow("approval")
        .wait_for_event("decision", schema=Approval)
        .step("after", lambda ctx: {"approved": ctx.prev.approved})
    )
    storage = bench.sqlite()
    engine = bench.engine(storage, [workflow])
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    assert engine.get_run_status(run.id).run.status == "waiting"

    def send(name, payload):
        if door == "send_event":
            return engine.send_event(run.id, name, payload)
        return engine.dispatcher.ask(SendEvent(run.id, name, payload), timeout=5)

    with pytest.raises(InputValidationError) as raised:
        send("decision", {"approved": "perhaps"})
    assert any("approved" in issue for issue in raised.value.issues)
    with pytest.raises(ConfigError, match="no wait_for_event step named"):
        send("no-such-wait", {"approved": True})
    assert table_counts(storage.path)["workflow_events"] == 0
    assert engine.get_run_status(run.id).run.status == "waiting"

    assert send("decision", {"approved": True}) is True
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert info.step("after").output == {"approved": True}
