"""Errors the engine raises to the caller: stable codes, context fields, to_dict()."""

from dataclasses import dataclass

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.errors import InputValidationError, ReflowError
from reflow_actors.storage import MemoryStorage
from reflow_actors.testing import test_engine


# --8<-- [start:setup]
@dataclass
class Order:
    order_id: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError("quantity must be at least 1")


def pack(ctx: StepContext) -> dict:
    return {"items": {1, 2, 3}}  # a set is not plain data: it cannot be persisted


order = create_workflow("order", input=Order).step("pack", pack)
engine = create_engine(storage=MemoryStorage(), workflows=[order])
# --8<-- [end:setup]

# --8<-- [start:raised]
try:
    engine.enqueue(order, {"order_id": "o-1", "quantity": 0})
except InputValidationError as error:  # nothing was stored
    print(error.code, error.issues)

try:
    engine.enqueue("invoice", {})
except ReflowError as error:
    print(error.code, error.to_dict()["context"])
# --8<-- [end:raised]

# --8<-- [start:persisted]
result = test_engine(workflows=[order]).run(order, {"order_id": "o-1", "quantity": 2})
print(result.status, "|", result.steps["pack"].error)
# --8<-- [end:persisted]
