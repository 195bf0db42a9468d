"""The contention workflow: three quick steps, each recording that it started.

The steps do no work of their own: the test is about the storage under
contention (claims, enqueues, step writes and heartbeats of four processes on
one file), so every moment goes to those. Each handler appends a ``start``
entry to the ledger and returns its pid; an ``on_run_complete`` hook appends a
``complete`` entry; ``on_error`` appends every background error.
"""

from __future__ import annotations

import os
from typing import Any

from reflow_actors import Hooks, RunComplete, StepContext, Workflow, create_workflow
from tests.chaos import flows as chaos_flows
from tests.chaos import ledger

WORKFLOW = "contend"
STEPS = ("a", "b", "c")


def build(path: str) -> list[Workflow[Any, Any]]:
    """The ``contend`` workflow, recording into the ledger at ``path``."""

    def step(name: str) -> Any:
        def handler(ctx: StepContext[Any, Any]) -> dict[str, Any]:
            ledger.append(path, ctx.run_id, name, ctx.attempt, "start")
            return {"step": name, "pid": os.getpid()}

        return handler

    workflow: Workflow[Any, Any] = create_workflow(WORKFLOW)
    for name in STEPS:
        workflow = workflow.step(name, step(name))
    return [workflow]


def hooks(path: str, errors_path: str) -> Hooks:
    """``complete`` entries into the ledger, every background error into ``errors_path``."""

    def on_run_complete(event: RunComplete) -> None:
        ledger.append(path, event.run_id, "*", 0, "complete")

    return Hooks(on_run_complete=on_run_complete, on_error=chaos_flows.error_hook(errors_path))
