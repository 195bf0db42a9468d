"""A parallel group of bare ``async def`` branch handlers.

Sequential steps and ``Branch(...)`` accept async handlers and unwrap their
result type; a bare async handler as a ``.parallel`` value should too.
Checked by mypy --strict (never executed).
"""

from __future__ import annotations

from typing_extensions import assert_type

from reflow_actors import StepContext, Workflow, create_workflow


async def fetch_geo(ctx: StepContext[str, None]) -> str:
    return "NL"


async def fetch_score(ctx: StepContext[str, None]) -> str:
    return "712"


assert_type(
    create_workflow("async-fanout", input=str).parallel({"geo": fetch_geo, "score": fetch_score}),
    Workflow[str, dict[str, str]],
)
