"""Lifecycle events as lines for people and as records for ``--json`` (worker and demo)."""

from __future__ import annotations

import time
from typing import Any

from ..errors import describe_error
from ..events import (
    Event,
    RunComplete,
    RunFailed,
    RunStart,
    StepComplete,
    StepSkipped,
    StepStart,
)
from .render import compact, iso_time, shorten

__all__ = ["RUN_EVENTS", "describe", "event_record"]

RUN_EVENTS = (RunStart, RunComplete, RunFailed)
"""The events ``worker`` logs without ``--verbose``."""

_OUTPUT_WIDTH = 60


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def describe(event: Event) -> str:
    """What happened, in a few words: ``charge completed (2 attempts) {"charge_id":...}``."""
    if isinstance(event, RunStart):
        return "run started"
    if isinstance(event, StepStart):
        return f"{event.step_name} started"
    if isinstance(event, StepSkipped):
        return f"{event.step_name} skipped"
    if isinstance(event, StepComplete):
        output = shorten(compact(event.output), _OUTPUT_WIDTH)
        return f"{event.step_name} completed ({_attempts(event.attempts)}) {output}"
    if isinstance(event, RunComplete):
        return "run completed"
    return f"run failed at {event.step_name}: {describe_error(event.error)}"


def event_record(event: Event) -> dict[str, Any]:
    """An event as one JSON-ready record, stamped with the time it was seen."""
    record: dict[str, Any] = {
        "type": event.type,
        "run_id": event.run_id,
        "workflow": event.workflow,
        "at": iso_time(round(time.time() * 1000)),
    }
    if isinstance(event, (StepStart, StepSkipped, StepComplete, RunFailed)):
        record["step_name"] = event.step_name
    if isinstance(event, StepComplete):
        record["attempts"] = event.attempts
    if isinstance(event, (StepComplete, RunComplete)):
        record["output"] = event.output
    if isinstance(event, RunFailed):
        record["error"] = describe_error(event.error)
    return record
