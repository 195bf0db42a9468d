"""Workflows the CLI tests store runs of, and an ``engine`` factory for ``--app``.

``tests.cli.flows:engine`` is importable in-process (the repository root is on
``sys.path`` under pytest), so ``--app`` validation is tested against it.
"""

from __future__ import annotations

from typing import Any

from reflow_actors import Engine, create_engine, create_workflow
from reflow_actors.errors import NonRetryableError
from reflow_actors.storage import MemoryStorage


def _approval(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("by"), str):
        raise ValueError('an approval needs "by" (a string)')
    return value


def _explode(ctx: Any) -> None:
    raise NonRetryableError("card declined\nsecond line of detail")


greet = (
    create_workflow("greet")
    .step("hello", lambda ctx: {"greeting": "hello " + ctx.input["name"]})
    .step("shout", lambda ctx: {"loud": ctx.prev["greeting"].upper()})
)
boom = create_workflow("boom").step("prepare", lambda ctx: {"ready": True}).step("pay", _explode)
approval = (
    create_workflow("approval")
    .step("request", lambda ctx: {"asked": True})
    .wait_for_event("approved", _approval)
    .step("finish", lambda ctx: {"approved_by": ctx.prev["by"]})
)

ALL = [greet, boom, approval]


def engine() -> Engine:
    """An engine with every workflow here (its own storage is never used by the CLI)."""
    return create_engine(storage=MemoryStorage(), workflows=ALL)


def greet_only() -> Engine:
    """An engine that registers only ``greet``."""
    return create_engine(storage=MemoryStorage(), workflows=[greet])


not_an_engine = 42
