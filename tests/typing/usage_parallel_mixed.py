"""A parallel group mixing a bare handler and a ``Branch`` (API.md's own example).

``.parallel({"email": send_email, "crm": Branch(sync_crm, retry=..., timeout=2)})``
with branches of one output type should give ``dict[str, T]`` without
``output=``. Checked by mypy --strict (never executed).
"""

from __future__ import annotations

from typing_extensions import assert_type

from reflow_actors import Branch, Retry, StepContext, Workflow, create_workflow


def send_email(ctx: StepContext[str, None]) -> bool:
    return True


def sync_crm(ctx: StepContext[str, None]) -> bool:
    return True


assert_type(
    create_workflow("signup", input=str).parallel(
        {"email": send_email, "crm": Branch(sync_crm, retry=Retry(max_attempts=2), timeout=2)}
    ),
    Workflow[str, dict[str, bool]],
)
