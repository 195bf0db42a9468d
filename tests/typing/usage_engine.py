"""Waits, events, hooks, streams and the engine's methods, as a type checker sees them.

Checked by mypy --strict (never executed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

from reflow_actors import (
    Engine,
    EventStream,
    Hooks,
    RunComplete,
    RunFailed,
    RunInfo,
    RunStatus,
    StepComplete,
    StepContext,
    StepResult,
    Workflow,
    WorkflowRun,
    create_engine,
    create_workflow,
)
from reflow_actors.messages import Cancel, Tick
from reflow_actors.storage import MemoryStorage, SQLiteStorage
from reflow_actors.testing import test_engine


class Request(BaseModel):
    amount: int


class Approval(BaseModel):
    approved: bool
    by: str


@dataclass(frozen=True)
class Note:
    text: str


def parse_level(value: object) -> int:
    return int(str(value))


def request(ctx: StepContext[Request, None]) -> int:
    return ctx.input.amount


base = create_workflow("approval", input=Request).step("request", request)

# wait_for_event(name, schema=Model): the next step's prev is the model.
approved = base.wait_for_event("approved", schema=Approval, timeout="7d")
assert_type(approved, Workflow[Request, Approval])


def decide(ctx: StepContext[Request, Approval]) -> str:
    assert_type(ctx.prev.approved, bool)
    return ctx.prev.by


assert_type(approved.step("decide", decide), Workflow[Request, str])
assert_type(base.wait_for_event("note", schema=Note), Workflow[Request, Note])
assert_type(base.wait_for_event("level", schema=parse_level), Workflow[Request, int])
assert_type(base.wait_for_event("anything"), Workflow[Request, Any])  # no schema: unchecked

flow = approved.step("decide", decide)

# --- hooks are typed per event ----------------------------------------------------------------


def on_complete(event: RunComplete) -> None:
    assert_type(event.run_id, str)
    assert_type(event.output, Any)


async def on_failed(event: RunFailed) -> None:
    assert_type(event.error, BaseException)
    assert_type(event.step_name, str)


hooks = Hooks(
    on_run_complete=on_complete,
    on_run_failed=on_failed,
    on_step_complete=lambda event: event.attempts + 1,
    on_error=lambda error: assert_type(error, BaseException),
)

# --- the engine ----------------------------------------------------------------------------------

engine = create_engine(
    storage=SQLiteStorage("reflow.db"),
    workflows=[flow, create_workflow("other")],
    concurrency=4,
    lease_duration="30s",
    heartbeat_interval=5,
    hooks=hooks,
)
assert_type(engine, Engine)

run = engine.enqueue(flow, Request(amount=5), idempotency_key="r-1")
assert_type(run, WorkflowRun)
assert_type(run.status, RunStatus)
assert_type(engine.enqueue("approval", {"amount": 5}), WorkflowRun)  # by name: unchecked
assert_type(engine.tick(), int)
assert_type(engine.cancel(run.id), bool)
assert_type(engine.resume(run.id), bool)
assert_type(engine.send_event(run.id, "approved", {"approved": True, "by": "ada"}), bool)
assert_type(engine.get_run_status(run.id), RunInfo | None)
info = engine.wait(run.id, timeout=10)
assert_type(info, RunInfo)
assert_type(info.steps, list[StepResult])
assert_type(info.step("decide"), StepResult | None)
assert_type(engine.list_runs(status="failed", limit=10), list[WorkflowRun])
assert_type(engine.schedule(flow, Request(amount=1), every="1h"), str)
engine.dispatcher.ask(Tick(), timeout=5)
engine.dispatcher.tell(Cancel(run.id))

with engine.stream(buffer_size=0) as events:
    assert_type(events, EventStream)
    for event in events:
        if event.type == "step_complete":
            assert_type(event, StepComplete)
            assert_type(event.step_name, str)
        elif isinstance(event, RunFailed):
            assert_type(event.error, BaseException)

with create_engine(storage=MemoryStorage(), workflows=[flow]) as started:
    assert_type(started, Engine)


async def use_aio() -> None:
    assert_type(await engine.aio.enqueue(flow, Request(amount=1)), WorkflowRun)
    assert_type(await engine.aio.wait(run.id), RunInfo)
    async with engine.aio.stream() as stream:
        async for event in stream:
            if isinstance(event, RunComplete):
                assert_type(event.output, Any)


# --- the test helper ---------------------------------------------------------------------------

result = test_engine(workflows=[flow]).run(flow, Request(amount=3), events={"approved": {}})
assert_type(result.status, RunStatus)
assert_type(result.steps["decide"], StepResult)
