"""The workflows the chaos and fencing tests run, built around the side-effect ledger.

``chaos5`` is five sequential steps. Every handler appends a ``start`` entry,
simulates a little work (a random wait on its abort signal), builds an output
carrying its pid, attempt, a fresh random token and the token of ``prev``,
appends that output as a ``done`` entry, and returns it. The token makes
"storage holds the output the ledger saw produced" an exact comparison, and
``prev_token`` shows each step was handed its predecessor's persisted output.

A worker can be told to *gate* a step: the handler then waits (ignoring its
signal, like a handler stuck in a call that cannot be interrupted) until a gate
file exists. The fencing tests freeze a worker while it waits there.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reflow_actors import Hooks, RunComplete, StepContext, Workflow, create_workflow
from tests.chaos import ledger

STEPS = ("s1", "s2", "s3", "s4", "s5")
WORKFLOW = "chaos5"
GATE_POLL = 0.005
GATE_LIMIT = 120.0  # a gated step that is never opened gives up (and fails) after this

Handler = Callable[[StepContext[Any, Any]], Any]


def token_of(value: Any) -> Any:
    """The ``token`` of a step output (``None`` for anything else)."""
    return value.get("token") if isinstance(value, dict) else None


def _wait_for_gate(gate: Path) -> None:
    deadline = time.monotonic() + GATE_LIMIT
    while not gate.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gate {gate} was never opened")
        time.sleep(GATE_POLL)  # deliberately deaf to the abort signal


def _handler(path: str, name: str, work: float, gate: Path | None) -> Handler:
    rng = random.Random()

    def handler(ctx: StepContext[Any, Any]) -> dict[str, Any]:
        ledger.append(path, ctx.run_id, name, ctx.attempt, "start")
        if gate is not None:
            _wait_for_gate(gate)
        elif work > 0:
            ctx.signal.wait(rng.uniform(0, work))  # simulated work
        output = {
            "step": name,
            "pid": os.getpid(),
            "attempt": ctx.attempt,
            "token": uuid.uuid4().hex,
            "prev_token": token_of(ctx.prev),
        }
        ledger.append(path, ctx.run_id, name, ctx.attempt, "done", output)
        return output

    return handler


def build(
    path: str, *, work: float = 0.0, gate_step: str | None = None, gate: str | None = None
) -> list[Workflow[Any, Any]]:
    """The ``chaos5`` workflow recording into the ledger at ``path``.

    ``work`` is the most a step waits to simulate work (seconds, uniform);
    ``gate_step`` waits for the file ``gate`` to exist instead.
    """
    workflow: Workflow[Any, Any] = create_workflow(WORKFLOW)
    for name in STEPS:
        gated = Path(gate) if gate is not None and name == gate_step else None
        workflow = workflow.step(name, _handler(path, name, work, gated))
    return [workflow]


def error_hook(errors_path: str) -> Callable[[BaseException], None]:
    """An ``on_error`` hook that appends every reported error to ``errors_path``."""

    def on_error(error: BaseException) -> None:
        cause = error.__cause__
        ledger.append(
            errors_path,
            "-",
            "*",
            0,
            "error",
            type=type(error).__name__,
            message=str(error),
            cause=None if cause is None else f"{type(cause).__name__}: {cause}",
        )

    return on_error


def hooks(path: str, errors_path: str) -> Hooks:
    """``on_run_complete`` into the ledger, every background error into ``errors_path``."""

    def on_run_complete(event: RunComplete) -> None:
        ledger.append(path, event.run_id, "*", 0, "complete")

    return Hooks(on_run_complete=on_run_complete, on_error=error_hook(errors_path))
