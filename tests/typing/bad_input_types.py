"""Wrong workflow input passed to the engine; mypy --strict should reject each marked line.

API.md: "``enqueue(workflow, input)``: ``workflow`` is a ``Workflow`` object
(type-checked input) or its name". ``# E: a|b`` accepts either error code.
Checked by mypy (never executed).
"""

from __future__ import annotations

from pydantic import BaseModel

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.storage import MemoryStorage
from reflow_actors.testing import test_engine


class Order(BaseModel):
    order_id: str


def charge(ctx: StepContext[Order, None]) -> str:
    return ctx.input.order_id


flow = create_workflow("order", input=Order).step("charge", charge)
engine = create_engine(storage=MemoryStorage(), workflows=[flow])

engine.enqueue(flow, "not an order")  # E: arg-type|misc
engine.schedule(flow, 42, every="1h")  # E: arg-type|misc
test_engine(workflows=[flow]).run(flow, ["not", "an", "order"])  # E: arg-type|misc


async def enqueue_async() -> None:
    await engine.aio.enqueue(flow, 3.5)  # E: arg-type|misc
