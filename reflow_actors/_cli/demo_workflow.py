"""The demo's order workflow, in a module a worker can import to finish a crashed demo.

::

    reflow worker reflow_actors._cli.demo_workflow:engine    # on $REFLOW_DB, else reflow-demo.db

``validate -> charge -> (email | crm in parallel) -> ship``. ``charge`` fails
its first attempt (a simulated gateway timeout) and succeeds on the retry, so
the demo shows a retry too. Each step pauses briefly, on its abort signal, so
progress is visible and a stopping engine interrupts it at once.
"""

from __future__ import annotations

import os
from typing import Any

from ..engine import Engine, create_engine
from ..events import Hooks
from ..retry import Retry
from ..storage import SQLiteStorage
from ..workflow import create_workflow

__all__ = ["DEMO_DB", "LEASE_SECONDS", "STEPS", "build_engine", "engine", "order", "sample_order"]

DEMO_DB = "reflow-demo.db"
LEASE_SECONDS = 3.0
"""Short, so a crashed demo run is reclaimed within seconds."""

_PAUSE = 0.15

Order = dict[str, Any]


def _pause(ctx: Any) -> None:
    if ctx.signal.wait(_PAUSE):
        ctx.signal.throw_if_aborted()


def validate(ctx: Any) -> Order:
    """Check the order and total it."""
    _pause(ctx)
    items = ctx.input["items"]
    if not items:
        raise ValueError("an order needs at least one item")
    total = round(sum(item["price"] * item["qty"] for item in items), 2)
    return {"order_id": ctx.input["order_id"], "total": total}


def charge(ctx: Any) -> Order:
    """Charge the card; the first attempt times out (simulated) and is retried."""
    _pause(ctx)
    if ctx.attempt == 1:
        raise TimeoutError("payment gateway timed out (simulated; the step is retried)")
    return {"charge_id": "ch_" + ctx.prev["order_id"], "amount": ctx.prev["total"]}


def email(ctx: Any) -> Order:
    """Send the receipt."""
    _pause(ctx)
    return {"sent_to": ctx.input["email"]}


def crm(ctx: Any) -> Order:
    """Record the sale in the CRM."""
    _pause(ctx)
    return {"crm_id": "crm_" + ctx.input["order_id"]}


def ship(ctx: Any) -> Order:
    """Book the shipment."""
    _pause(ctx)
    return {"tracking": "TRK-" + ctx.steps["charge"]["charge_id"]}


order = (
    create_workflow("demo-order")
    .step("validate", validate)
    .step("charge", charge, retry=Retry(max_attempts=3, backoff="fixed", initial_delay=0.2))
    .parallel({"email": email, "crm": crm})
    .step("ship", ship)
)

STEPS = ("validate", "charge", "email", "crm", "ship")
"""Every step and branch name, in order (``--crash-after`` takes one)."""


def sample_order(number: int) -> Order:
    """An order input for the demo."""
    return {
        "order_id": f"o-{number}",
        "email": "ada@example.com",
        "items": [
            {"sku": "book", "price": 12.5, "qty": 2},
            {"sku": "pen", "price": 1.75, "qty": 4},
        ],
    }


def build_engine(path: str, hooks: Hooks | None = None) -> Engine:
    """The demo engine on the SQLite file ``path``."""
    return create_engine(
        storage=SQLiteStorage(path),
        workflows=[order],
        concurrency=4,
        lease_duration=LEASE_SECONDS,
        hooks=hooks,
    )


def engine() -> Engine:
    """The demo engine on ``$REFLOW_DB``, else ``reflow-demo.db`` (for ``reflow worker``)."""
    return build_engine(os.environ.get("REFLOW_DB") or DEMO_DB)
