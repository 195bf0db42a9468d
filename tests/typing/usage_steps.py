"""Sequential steps: ``prev`` flows from step to step, and ``input`` is the schema's type.

Checked by mypy --strict (never executed): every ``assert_type`` must hold and
nothing may be reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, TypedDict

from pydantic import BaseModel
from typing_extensions import assert_type

from reflow_actors import (
    ConditionContext,
    FailureContext,
    Retry,
    StepContext,
    Workflow,
    create_workflow,
)


class Order(BaseModel):
    order_id: str
    amount_cents: int


class Receipt(TypedDict):
    charge_id: str
    amount_cents: int


@dataclass(frozen=True)
class Shipment:
    tracking: str


class Notified(TypedDict):
    sent: bool


# --- handlers of a chained workflow ---------------------------------------------------


def charge(ctx: StepContext[Order, None]) -> Receipt:
    assert_type(ctx.input, Order)
    assert_type(ctx.prev, None)  # the first step has no previous output
    assert_type(ctx.attempt, int)
    assert_type(ctx.run_id, str)
    return {"charge_id": "ch_1", "amount_cents": ctx.input.amount_cents}


async def ship(ctx: StepContext[Order, Receipt]) -> Shipment:
    assert_type(ctx.prev, Receipt)
    assert_type(ctx.prev["charge_id"], str)
    ctx.signal.throw_if_aborted()
    return Shipment(tracking=ctx.prev["charge_id"])


def notify(ctx: StepContext[Order, Shipment]) -> Notified:
    assert_type(ctx.prev, Shipment)  # the async step's result, not a coroutine
    assert_type(ctx.prev.tracking, str)
    return {"sent": bool(ctx.signal.wait(0))}


order = create_workflow("order", input=Order)
assert_type(order, Workflow[Order, None])

charged = order.step("charge", charge)
assert_type(charged, Workflow[Order, Receipt])

shipped = charged.step("ship", ship, retry=Retry(max_attempts=3, backoff="linear"), timeout="5s")
assert_type(shipped, Workflow[Order, Shipment])

notified = shipped.step("notify", notify)
assert_type(notified, Workflow[Order, Notified])

# The whole chain in one expression.
assert_type(
    create_workflow("order-2", input=Order)
    .step("charge", charge)
    .step("ship", ship)
    .step("notify", notify),
    Workflow[Order, Notified],
)

# A lambda's ctx is inferred from the chain: its result type comes from prev's type.
labelled = charged.step("label", lambda ctx: ctx.prev["charge_id"].upper())
assert_type(labelled, Workflow[Order, str])
amounts = charged.step("amount", lambda ctx: ctx.input.amount_cents + ctx.prev["amount_cents"])
assert_type(amounts, Workflow[Order, int])


# --- when= widens prev -------------------------------------------------------------------


def big_order(ctx: ConditionContext[Order, Receipt]) -> bool:
    assert_type(ctx.prev, Receipt)
    return ctx.input.amount_cents > 10_000


async def async_big_order(ctx: ConditionContext[Order, Receipt]) -> bool:
    return ctx.prev["amount_cents"] > 10_000


maybe_shipped = charged.step("ship", ship, when=big_order)
assert_type(maybe_shipped, Workflow[Order, Shipment | Receipt])
assert_type(charged.step("ship", ship, when=async_big_order), Workflow[Order, Shipment | Receipt])


def after_maybe(ctx: StepContext[Order, Shipment | Receipt]) -> str:
    if isinstance(ctx.prev, Shipment):
        return ctx.prev.tracking
    return ctx.prev["charge_id"]


assert_type(maybe_shipped.step("after", after_maybe), Workflow[Order, str])


# --- sleep keeps prev; on_failure sees the input type --------------------------------------

assert_type(charged.sleep("cool-off", "1h"), Workflow[Order, Receipt])
assert_type(charged.sleep("cool-off", 3600).step("ship", ship), Workflow[Order, Shipment])


def compensate(failure: FailureContext[Order]) -> None:
    assert_type(failure.input, Order)
    assert_type(failure.step_name, str)
    assert_type(failure.error, BaseException)


assert_type(notified.on_failure(compensate), Workflow[Order, Notified])


def finish_early(ctx: StepContext[Order, Receipt]) -> Receipt:
    if ctx.prev["amount_cents"] == 0:
        ctx.complete({"free": True})  # NoReturn: the line after it is unreachable
    return ctx.prev


def never(ctx: StepContext[Any, Any]) -> NoReturn:
    ctx.complete()


assert_type(charged.step("early", finish_early), Workflow[Order, Receipt])


# --- other input schemas --------------------------------------------------------------------


@dataclass(frozen=True)
class Signup:
    email: str


def parse_count(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError("expected an int")
    return value


def greet(ctx: StepContext[Signup, None]) -> str:
    assert_type(ctx.input.email, str)
    return ctx.input.email


assert_type(create_workflow("signup", input=Signup), Workflow[Signup, None])
assert_type(create_workflow("signup", input=Signup).step("greet", greet), Workflow[Signup, str])
assert_type(create_workflow("count", input=parse_count), Workflow[int, None])
assert_type(
    create_workflow("count", input=parse_count).step("double", lambda ctx: ctx.input * 2),
    Workflow[int, int],
)
# No schema: the input is whatever was enqueued.
assert_type(create_workflow("untyped"), Workflow[Any, None])
