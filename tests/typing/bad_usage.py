"""Usage that mypy --strict must reject: each ``# E: <code>`` line, and no other line.

Checked by mypy (never executed). ``test_typing.py`` requires an error with
exactly the given code(s) on each marked line.
"""

from __future__ import annotations

from typing import TypedDict

from pydantic import BaseModel

from reflow_actors import (
    Branch,
    ConditionContext,
    FailureContext,
    Hooks,
    StepContext,
    create_workflow,
)


class Order(BaseModel):
    order_id: str


class Receipt(TypedDict):
    charge_id: str


class Approval(BaseModel):
    approved: bool


def charge(ctx: StepContext[Order, None]) -> Receipt:
    return {"charge_id": "c"}


def wants_int_prev(ctx: StepContext[Order, int]) -> str:
    return ""


def wants_str_input(ctx: StepContext[str, None]) -> str:
    return ""


def wants_receipt(ctx: StepContext[Order, Receipt]) -> str:
    return ""


async def async_receipt(ctx: StepContext[Order, Receipt]) -> int:
    return 1


def approval_predicate(ctx: ConditionContext[Order, Approval]) -> bool:
    return ctx.prev.approved


order = create_workflow("order", input=Order)
charged = order.step("charge", charge)

# The first step's prev is None, not an int.
order.step("first", wants_int_prev)  # E: arg-type
# The handler's input type must be the workflow's.
order.step("first", wants_str_input)  # E: arg-type
# prev is the previous step's output (Receipt), not an int.
charged.step("next", wants_int_prev)  # E: arg-type
# An async step's prev is its result type (int), not the Receipt before it.
charged.step("ship", async_receipt).step("again", wants_receipt)  # E: arg-type
# Inside a lambda, prev is typed: Receipt has no key "amount".
charged.step("read", lambda ctx: ctx.prev["amount"])  # E: typeddict-item
# ... and input is the model: Order has no attribute "email".
charged.step("read", lambda ctx: ctx.input.email)  # E: attr-defined
# A sleep keeps prev: still a Receipt after it.
charged.sleep("nap", "1s").step("next", wants_int_prev)  # E: arg-type
# A wait's schema decides the next prev: an Approval, not a Receipt.
charged.wait_for_event("ok", schema=Approval).step("next", wants_receipt)  # E: arg-type
# when= needs a predicate over the same input and prev.
charged.step("maybe", wants_receipt, when=approval_predicate)  # E: arg-type
# Branches get the group's prev, like steps.
charged.parallel({"a": Branch(wants_int_prev)})  # E: arg-type
# A merged parallel record is a dict of the branch outputs, not a Receipt.
charged.parallel({"a": wants_receipt}).step("after", wants_receipt)  # E: arg-type
# output= describes the record; the next step must accept it.
charged.parallel({"a": wants_receipt}, output=Receipt).step("n", wants_int_prev)  # E: arg-type


def compensate_str(failure: FailureContext[str]) -> None:
    return None


# on_failure gets a FailureContext of the workflow's input type.
charged.on_failure(compensate_str)  # E: arg-type
# Hooks are typed per event: a run_complete event has no step_name.
Hooks(on_run_complete=lambda event: event.step_name)  # E: attr-defined
