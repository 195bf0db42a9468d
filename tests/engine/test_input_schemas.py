"""Input schemas: None, pydantic v2 models, dataclasses and plain callables.

Covers API.md "Workflows" (Schemas) and reflow-ts §3 IV: the handler receives
the validated value (a model or dataclass instance), storage receives plain
data (``model_dump(mode="json")`` / ``asdict``), invalid input raises
``InputValidationError`` with readable ``.issues`` at ``enqueue`` and nothing is
persisted.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pydantic
import pytest

from reflow_actors import create_workflow
from reflow_actors.errors import ConfigError, InputValidationError, ReflowError

pytestmark = pytest.mark.timeout(10)


class Order(pydantic.BaseModel):
    order_id: str
    quantity: int = 1
    placed: datetime


@dataclasses.dataclass
class Signup:
    email: str
    plan: str = "free"


def _capture(seen: list):
    def handler(ctx):
        seen.append(ctx.input)
        return {"ok": True}

    return handler


def test_without_a_schema_the_input_is_persisted_and_handed_over_as_given(harness):
    seen: list = []
    wf = create_workflow("raw").step("a", _capture(seen))
    engine = harness.engine([wf])
    run = engine.enqueue(wf, {"anything": [1, "two", None]})
    assert run.input == {"anything": [1, "two", None]}
    engine.tick()
    assert seen == [{"anything": [1, "two", None]}]


def test_a_pydantic_model_gives_handlers_the_model_and_storage_its_json_dump(harness):
    seen: list = []
    wf = create_workflow("orders", input=Order).step("a", _capture(seen)).step("b", _capture(seen))
    engine = harness.engine([wf])

    run = engine.enqueue(wf, {"order_id": "o-1", "placed": "2024-05-01T12:00:00Z"})

    expected = Order(order_id="o-1", placed=datetime(2024, 5, 1, 12, tzinfo=timezone.utc))
    assert run.input == expected.model_dump(mode="json")
    assert engine.get_run_status(run.id).run.input == expected.model_dump(mode="json")
    engine.tick()
    assert len(seen) == 2
    for received in seen:
        assert isinstance(received, Order)
        assert received == expected
        assert isinstance(received.placed, datetime)


def test_a_pydantic_model_instance_is_accepted_as_input(harness):
    wf = create_workflow("orders-instance", input=Order).step("a", lambda ctx: ctx.input.quantity)
    engine = harness.engine([wf])
    order = Order(order_id="o-2", quantity=3, placed=datetime(2024, 1, 1, tzinfo=timezone.utc))
    run = engine.enqueue(wf, order)
    assert run.input == order.model_dump(mode="json")
    engine.tick()
    assert engine.get_run_status(run.id).step("a").output == 3


def test_invalid_pydantic_input_raises_readable_issues_and_persists_nothing(harness):
    wf = create_workflow("strict-orders", input=Order).step("a", lambda ctx: None)
    engine = harness.engine([wf])

    with pytest.raises(InputValidationError) as raised:
        engine.enqueue(wf, {"order_id": "o-3", "quantity": "many"}, idempotency_key="k")

    error = raised.value
    assert error.code == "VALIDATION"
    assert all(isinstance(issue, str) for issue in error.issues)
    assert any(issue.startswith("quantity") for issue in error.issues), error.issues
    assert any(issue.startswith("placed") for issue in error.issues), error.issues
    assert engine.list_runs() == []
    # The key was not consumed by the failed attempt.
    good = {"order_id": "o-3", "quantity": 2, "placed": "2024-01-01T00:00:00Z"}
    assert engine.enqueue(wf, good, idempotency_key="k").input["quantity"] == 2


def test_a_dataclass_schema_builds_the_instance_for_handlers_and_stores_its_fields(harness):
    seen: list = []
    wf = create_workflow("signup", input=Signup).step("a", _capture(seen))
    engine = harness.engine([wf])

    run = engine.enqueue(wf, {"email": "a@example.com"})
    assert run.input == {"email": "a@example.com", "plan": "free"}
    engine.tick()
    assert seen == [Signup("a@example.com", "free")]
    assert isinstance(seen[0], Signup)


@pytest.mark.parametrize("bad", [{"mail": "x"}, {"email": "x", "extra": 1}, ["x"], "x"])
def test_a_dataclass_schema_rejects_input_that_does_not_build_it(harness, bad):
    wf = create_workflow("signup-bad", input=Signup).step("a", lambda ctx: None)
    engine = harness.engine([wf])
    with pytest.raises(InputValidationError) as raised:
        engine.enqueue(wf, bad)
    assert raised.value.issues
    assert engine.list_runs() == []


def test_a_callable_schema_transforms_the_input_before_it_is_persisted(harness):
    def normalise(value):
        if not isinstance(value, dict) or "name" not in value:
            raise ValueError("name is required")
        return {"name": value["name"].strip().lower()}

    seen: list = []
    wf = create_workflow("callable", input=normalise).step("a", _capture(seen))
    engine = harness.engine([wf])

    run = engine.enqueue(wf, {"name": "  Ada  "})
    assert run.input == {"name": "ada"}
    engine.tick()
    assert seen == [{"name": "ada"}]

    with pytest.raises(InputValidationError) as raised:
        engine.enqueue(wf, {"nom": "x"})
    assert raised.value.issues == ["name is required"]
    assert len(engine.list_runs()) == 1


def test_input_validation_error_is_a_reflow_error_with_structured_context(harness):
    wf = create_workflow("ctx", input=Signup).step("a", lambda ctx: None)
    engine = harness.engine([wf])
    with pytest.raises(ReflowError) as raised:
        engine.enqueue(wf, {})
    data = raised.value.to_dict()
    assert data["code"] == "VALIDATION"
    assert data["context"]["issues"] == raised.value.issues


def test_a_schema_that_is_neither_model_dataclass_nor_callable_is_a_config_error():
    with pytest.raises(ConfigError):
        create_workflow("bad-schema", input={"type": "object"})


def test_an_async_callable_schema_is_refused_at_enqueue(harness):
    async def validate(value):
        return value

    wf = create_workflow("async-schema", input=validate).step("a", lambda ctx: None)
    engine = harness.engine([wf])
    with pytest.raises(ReflowError):
        engine.enqueue(wf, {"x": 1})
    assert engine.list_runs() == []
