"""The plain-data shapes ``--json`` prints for runs, steps and schedules.

Timestamps appear twice: as epoch milliseconds (``created_at``) and as ISO
8601 in UTC (``created_at_iso``). Values (inputs, outputs) are as stored.
"""

from __future__ import annotations

from typing import Any

from ..records import StepResult, StepStatus, WorkflowRun, WorkflowSchedule
from .render import iso_time

__all__ = ["run_document", "schedule_document", "shown_status", "step_document"]


def _times(**stamps: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name, ms in stamps.items():
        document[name] = ms
        document[f"{name}_iso"] = iso_time(ms)
    return document


def shown_status(step: StepResult, run: WorkflowRun) -> str:
    """The step's status, but ``interrupted`` for an attempt a finished run left ``running``.

    Its run ended mid-step: cancelled, or failed while the attempt was in flight.
    """
    if step.status is StepStatus.RUNNING and run.status.terminal:
        return "interrupted"
    return step.status.value


def run_document(run: WorkflowRun) -> dict[str, Any]:
    """A run as plain data."""
    return {
        "id": run.id,
        "workflow": run.workflow,
        "status": run.status.value,
        "input": run.input,
        "idempotency_key": run.idempotency_key,
        **_times(created_at=run.created_at, updated_at=run.updated_at),
    }


def step_document(step: StepResult, run: WorkflowRun) -> dict[str, Any]:
    """A step row as plain data; ``shown_status`` is what the table prints."""
    return {
        "name": step.name,
        "status": step.status.value,
        "shown_status": shown_status(step, run),
        "attempts": step.attempts,
        "output": step.output,
        "error": step.error,
        **_times(created_at=step.created_at, updated_at=step.updated_at),
    }


def schedule_document(schedule: WorkflowSchedule) -> dict[str, Any]:
    """A schedule as plain data (``every`` in seconds, or ``cron``)."""
    return {
        "key": schedule.key,
        "workflow": schedule.workflow,
        "input": schedule.input,
        "every": schedule.every,
        "cron": schedule.cron,
        **_times(
            next_run_at=schedule.next_run_at,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
        ),
    }
