"""reflow-actors: durable workflow execution for Python, embedded on one SQLite file.

Define a workflow as a chain of steps; the engine makes every step durable::

    from reflow_actors import create_engine, create_workflow
    from reflow_actors.storage import SQLiteStorage

    signup = (
        create_workflow("signup")
        .step("create-user", lambda ctx: {"user_id": "u-1"})
        .step("send-welcome", lambda ctx: {"sent_to": ctx.prev["user_id"]})
    )
    with create_engine(storage=SQLiteStorage("reflow.db"), workflows=[signup]) as engine:
        run = engine.enqueue(signup, None)
        print(engine.wait(run.id).run.status)   # completed

If the process dies after a step, any engine that opens the same file resumes
the run after its lease expires; completed steps never run again.
"""

from .clock import Clock, SystemClock, VirtualClock
from .context import AbortSignal, ConditionContext, FailureContext, StepContext
from .cron import CronExpression, next_cron_occurrence, parse_cron
from .engine import Engine, create_engine
from .events import (
    Event,
    Hooks,
    RunComplete,
    RunFailed,
    RunStart,
    StepComplete,
    StepSkipped,
    StepStart,
)
from .records import RunInfo, RunStatus, StepResult, StepStatus, WorkflowRun, WorkflowSchedule
from .retry import Retry
from .schedule import parse_duration
from .stream import EventStream
from .workflow import Branch, Workflow, create_workflow

__version__ = "0.1.0"

__all__ = [
    "AbortSignal",
    "Branch",
    "Clock",
    "ConditionContext",
    "CronExpression",
    "Engine",
    "Event",
    "EventStream",
    "FailureContext",
    "Hooks",
    "Retry",
    "RunComplete",
    "RunFailed",
    "RunInfo",
    "RunStart",
    "RunStatus",
    "StepComplete",
    "StepContext",
    "StepResult",
    "StepSkipped",
    "StepStart",
    "StepStatus",
    "SystemClock",
    "VirtualClock",
    "Workflow",
    "WorkflowRun",
    "WorkflowSchedule",
    "create_engine",
    "create_workflow",
    "next_cron_occurrence",
    "parse_cron",
    "parse_duration",
]
