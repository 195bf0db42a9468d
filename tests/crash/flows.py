"""The workflows the crash tests run, built around a side-effect ledger.

Every handler appends a ``start`` entry to the ledger, optionally blocks (so a
test can SIGKILL the process while it is inside that step), then builds an
output carrying its pid, attempt and a random token, appends it as a ``done``
entry and returns it. The token makes "the output in storage is the one the
ledger saw produced" an exact comparison. The worker subprocess and the
recovering engine in the test process build the same workflows; only the
worker is told to block.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from reflow_actors import Hooks, StepComplete, StepContext, Workflow, create_workflow
from tests.crash import ledger

BLOCK_SECONDS = 60.0  # far longer than any test waits: a blocked step only ends by SIGKILL
NAP_SECONDS = 1.5
SEQUENTIAL = ("s1", "s2", "s3", "s4", "s5")
BRANCHES = ("a", "b", "c")
TRIPLE = ("t1", "t2", "t3")

Handler = Callable[[StepContext[Any, Any]], Any]


def _token(value: Any) -> Any:
    return value.get("token") if isinstance(value, dict) else None


def _handler(path: str, name: str, block: Collection[str], work: float = 0.0) -> Handler:
    def handler(ctx: StepContext[Any, Any]) -> dict[str, Any]:
        ledger.append(path, ctx.run_id, name, ctx.attempt, "start")
        if name in block:
            ctx.signal.wait(BLOCK_SECONDS)
            raise RuntimeError(f"step {name} was told to block but nobody killed the process")
        if work:
            time.sleep(work)  # simulated work
        output = {
            "step": name,
            "pid": os.getpid(),
            "attempt": ctx.attempt,
            "token": uuid.uuid4().hex,
            "prev_token": _token(ctx.prev),
        }
        ledger.append(path, ctx.run_id, name, ctx.attempt, "done", output)
        return output

    return handler


def _merge(path: str) -> Handler:
    def merge(ctx: StepContext[Any, Any]) -> dict[str, Any]:
        ledger.append(path, ctx.run_id, "merge", ctx.attempt, "start")
        output = {
            "step": "merge",
            "pid": os.getpid(),
            "branch_tokens": {name: _token(value) for name, value in ctx.prev.items()},
        }
        ledger.append(path, ctx.run_id, "merge", ctx.attempt, "done", output)
        return output

    return merge


def _decide(path: str) -> Handler:
    def decide(ctx: StepContext[Any, Any]) -> None:
        ledger.append(path, ctx.run_id, "decide", ctx.attempt, "start")
        output = {"step": "decide", "pid": os.getpid(), "token": uuid.uuid4().hex}
        ledger.append(path, ctx.run_id, "decide", ctx.attempt, "done", output)
        ctx.complete(output)

    return decide


def build(path: str, block: Collection[str] = ()) -> list[Workflow[Any, Any]]:
    """Every crash-test workflow, recording into the ledger at ``path``."""
    five: Workflow[Any, Any] = create_workflow("five")
    for name in SEQUENTIAL:
        five = five.step(name, _handler(path, name, block))

    fanout = (
        create_workflow("fanout")
        .step("fetch", _handler(path, "fetch", block))
        .parallel({name: _handler(path, name, block) for name in BRANCHES})
        .step("merge", _merge(path))
    )
    nap = (
        create_workflow("nap")
        .step("before", _handler(path, "before", block))
        .sleep("nap", NAP_SECONDS)
        .step("after", _handler(path, "after", block))
    )
    early = (
        create_workflow("early")
        .step("s1", _handler(path, "s1", block))
        .step("decide", _decide(path))
        .step("s3", _handler(path, "s3", block))
    )
    triple: Workflow[Any, Any] = create_workflow("triple")
    for name in TRIPLE:
        triple = triple.step(name, _handler(path, name, block, work=0.005))
    return [five, fanout, nap, early, triple]


def hooks(path: str, block_on_step_complete: str | None = None) -> Hooks:
    """Hooks that ledger every run completion and every background error.

    With ``block_on_step_complete``, the ``step_complete`` hook for that step
    records a ``hook`` entry and then blocks, so the process can be killed
    between a step's durable result and the notifications that follow it.
    """

    def on_step_complete(event: StepComplete) -> None:
        if event.step_name == block_on_step_complete:
            ledger.append(path, event.run_id, event.step_name, event.attempts, "hook")
            threading.Event().wait(BLOCK_SECONDS)

    def on_run_complete(event: Any) -> None:
        ledger.append(path, event.run_id, "*", 0, "run_complete")

    def on_error(error: BaseException) -> None:
        detail = f"{type(error).__name__}: {error}; cause={error.__cause__!r}"
        ledger.append(path, "-", "*", 0, "error", detail)

    return Hooks(
        on_step_complete=on_step_complete, on_run_complete=on_run_complete, on_error=on_error
    )
