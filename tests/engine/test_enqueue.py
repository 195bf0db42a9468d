"""``engine.enqueue``: the stored record, idempotency keys, lookup by name or object.

Covers the ``enqueue`` row of API.md "Engine" and reflow-ts §6 EQ: a fresh UUID
v4 per run, a ``pending`` record stamped with the engine clock, idempotent
re-enqueue with equal input (deep, key-order-insensitive), a conflict on
different input, keys scoped per workflow, and a started engine beginning an
enqueued run at once rather than at the next poll.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from reflow_actors import VirtualClock, WorkflowRun, create_workflow
from reflow_actors.errors import (
    ConfigError,
    IdempotencyConflictError,
    InputValidationError,
    SerializationError,
    WorkflowNotFoundError,
)
from reflow_actors.records import RunStatus

from .conftest import START

pytestmark = pytest.mark.timeout(10)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

ORDERS = create_workflow("orders").step("charge", lambda ctx: {"charged": ctx.input})
EMAILS = create_workflow("emails").step("send", lambda ctx: {"sent": ctx.input})


def test_enqueue_stores_a_pending_run_with_every_field_set(harness):
    clock = VirtualClock(START)
    engine = harness.engine([ORDERS], clock=clock)

    run = engine.enqueue(ORDERS, {"order_id": "o-1", "items": [1, 2]})

    assert isinstance(run, WorkflowRun)
    assert UUID4.match(run.id), run.id
    assert run.workflow == "orders"
    assert run.input == {"order_id": "o-1", "items": [1, 2]}
    assert run.idempotency_key is None
    assert run.status == RunStatus.PENDING
    assert run.created_at == run.updated_at == clock.now_ms()
    assert isinstance(run.created_at, int)
    stored = engine.get_run_status(run.id)
    assert stored.run.id == run.id
    assert stored.run.input == run.input
    assert stored.steps == []


def test_every_enqueue_gets_a_fresh_id(harness):
    engine = harness.engine([ORDERS])
    ids = {engine.enqueue(ORDERS, {"n": 1}).id for _ in range(20)}
    assert len(ids) == 20


def test_enqueue_by_name_and_by_workflow_object_are_the_same(harness):
    engine = harness.engine([ORDERS])
    by_name = engine.enqueue("orders", 1)
    by_object = engine.enqueue(ORDERS, 2)
    assert by_name.workflow == by_object.workflow == "orders"
    assert engine.tick() == 1
    assert engine.tick() == 1
    assert engine.get_run_status(by_name.id).step("charge").output == {"charged": 1}
    assert engine.get_run_status(by_object.id).step("charge").output == {"charged": 2}


def test_an_unknown_workflow_name_or_object_raises_workflow_not_found(harness):
    engine = harness.engine([ORDERS])
    with pytest.raises(WorkflowNotFoundError, match='"missing"'):
        engine.enqueue("missing", None)
    with pytest.raises(WorkflowNotFoundError, match='"emails"'):
        engine.enqueue(EMAILS, None)
    assert engine.list_runs() == []


def test_the_same_key_and_the_same_input_return_the_existing_run(harness):
    engine = harness.engine([ORDERS])
    first = engine.enqueue(ORDERS, {"a": 1, "b": [1, {"c": 2}]}, idempotency_key="k-1")
    again = engine.enqueue(ORDERS, {"b": [1, {"c": 2}], "a": 1}, idempotency_key="k-1")
    assert again.id == first.id
    assert again.idempotency_key == "k-1"
    assert [run.id for run in engine.list_runs()] == [first.id]


def test_the_same_key_with_different_input_raises_idempotency_conflict(harness):
    engine = harness.engine([ORDERS])
    engine.enqueue(ORDERS, {"x": 1}, idempotency_key="same-key")
    with pytest.raises(IdempotencyConflictError, match="different input") as raised:
        engine.enqueue(ORDERS, {"x": 2}, idempotency_key="same-key")
    assert raised.value.code == "IDEMPOTENCY_CONFLICT"
    assert len(engine.list_runs()) == 1


def test_an_existing_completed_run_is_returned_and_not_executed_again(harness):
    calls: list[int] = []
    wf = create_workflow("once").step("a", lambda ctx: calls.append(1))
    engine = harness.engine([wf])
    first = engine.enqueue(wf, None, idempotency_key="only-once")
    engine.tick()
    again = engine.enqueue(wf, None, idempotency_key="only-once")
    assert again.id == first.id
    assert again.status == RunStatus.COMPLETED
    assert engine.tick() == 0
    assert calls == [1]


def test_idempotency_keys_are_scoped_per_workflow(harness):
    engine = harness.engine([ORDERS, EMAILS])
    order = engine.enqueue(ORDERS, {"x": 1}, idempotency_key="shared")
    email = engine.enqueue(EMAILS, {"x": 2}, idempotency_key="shared")
    assert order.id != email.id
    assert len(engine.list_runs()) == 2


def test_an_empty_idempotency_key_is_a_config_error(harness):
    engine = harness.engine([ORDERS])
    with pytest.raises(ConfigError):
        engine.enqueue(ORDERS, None, idempotency_key="")
    assert engine.list_runs() == []


def test_checks_run_in_order_workflow_then_key_then_input(harness):
    wf = create_workflow("typed", input=int).step("a", lambda ctx: None)
    engine = harness.engine([wf])
    with pytest.raises(WorkflowNotFoundError):
        engine.enqueue("nope", "not-int", idempotency_key="")
    with pytest.raises(ConfigError):
        engine.enqueue(wf, "not-int", idempotency_key="")
    with pytest.raises(InputValidationError):
        engine.enqueue(wf, "not-int", idempotency_key="fine")


def test_idempotency_holds_across_two_sqlite_engines_on_one_file(harness):
    first_storage = harness.sqlite("shared.db")
    second_storage = harness.sqlite("shared.db")
    one = harness.engine([ORDERS], storage=first_storage)
    two = harness.engine([ORDERS], storage=second_storage)
    a = one.enqueue(ORDERS, {"x": 1}, idempotency_key="dup")
    b = two.enqueue(ORDERS, {"x": 1}, idempotency_key="dup")
    assert a.id == b.id
    assert two.tick() == 1
    assert one.tick() == 0
    assert one.get_run_status(a.id).run.status == RunStatus.COMPLETED


def test_input_that_cannot_be_persisted_is_refused_naming_its_path(harness):
    engine = harness.engine([ORDERS])
    with pytest.raises(SerializationError) as raised:
        engine.enqueue(ORDERS, {"order": {"tags": {"a", "b"}}}, idempotency_key="k")
    assert raised.value.path == "input.order.tags"
    assert engine.list_runs() == []
    assert engine.enqueue(ORDERS, {"order": {"tags": ["a"]}}, idempotency_key="k").input == {
        "order": {"tags": ["a"]}
    }


def test_tuples_in_the_input_are_stored_as_lists(harness):
    engine = harness.engine([ORDERS])
    first = engine.enqueue(ORDERS, {"pair": (1, 2)}, idempotency_key="t")
    assert first.input == {"pair": [1, 2]}
    assert engine.enqueue(ORDERS, {"pair": [1, 2]}, idempotency_key="t").id == first.id


def test_a_datetime_in_the_input_round_trips_as_an_aware_datetime(harness):
    seen: list = []
    wf = create_workflow("dated").step("a", lambda ctx: seen.append(ctx.input) or ctx.input["at"])
    engine = harness.engine([wf])
    at = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 1, 1, 8, 0)

    run = engine.enqueue(wf, {"at": at, "naive": naive})

    assert run.input == {"at": at, "naive": naive.replace(tzinfo=timezone.utc)}
    engine.tick()
    assert seen[0]["at"] == at
    assert seen[0]["naive"].tzinfo is not None
    assert engine.get_run_status(run.id).step("a").output == at


def test_a_started_engine_runs_an_enqueued_run_without_waiting_for_the_poll(harness):
    engine = harness.engine([ORDERS])
    engine.start(poll_interval=60)
    assert engine.tick() == 0  # the start's own first poll has gone by
    run = engine.enqueue(ORDERS, "go")
    assert engine.wait(run.id, timeout=2).run.status == RunStatus.COMPLETED
