"""Mapping SQLite rows to records: the column lists every query selects, and their decoding."""

from __future__ import annotations

from typing import Any

import orjson

from reflow_actors.codec import decode
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun, WorkflowSchedule

__all__ = [
    "RUN_COLUMNS",
    "SCHEDULE_COLUMNS",
    "STEP_COLUMNS",
    "Row",
    "names_json",
    "run_from_row",
    "schedule_from_row",
    "step_from_row",
]

RUN_COLUMNS = "id, workflow, input, idempotency_key, status, created_at, updated_at"
STEP_COLUMNS = "id, run_id, name, status, output, error, attempts, created_at, updated_at"
SCHEDULE_COLUMNS = "key, workflow, input, interval_ms, cron, next_run_at, created_at, updated_at"

_RUN_STATUS = {status.value: status for status in RunStatus}
_STEP_STATUS = {status.value: status for status in StepStatus}

Row = tuple[Any, ...]


def run_from_row(
    row: Row,
    *,
    status: RunStatus | None = None,
    updated_at: int | None = None,
    lease_id: str | None = None,
) -> WorkflowRun:
    """Build a run from ``RUN_COLUMNS`` (overriding what a claim just changed)."""
    run_id, workflow, encoded, key, stored_status, created_at, stored_updated_at = row
    return WorkflowRun(
        run_id,
        workflow,
        decode(encoded),
        key,
        _RUN_STATUS[stored_status] if status is None else status,
        created_at,
        stored_updated_at if updated_at is None else updated_at,
        lease_id,
    )


def step_from_row(row: Row) -> StepResult:
    """Build a step row from ``STEP_COLUMNS`` (a legacy NULL ``attempts`` reads as 0)."""
    step_id, run_id, name, status, output, error, attempts, created_at, updated_at = row
    return StepResult(
        name,
        _STEP_STATUS[status],
        decode(output),
        error,
        attempts or 0,
        created_at,
        updated_at,
        run_id=run_id,
        id=step_id,
    )


def schedule_from_row(row: Row) -> WorkflowSchedule:
    """Build a schedule from ``SCHEDULE_COLUMNS``; ``interval_ms`` becomes seconds."""
    key, workflow, encoded, interval_ms, cron, next_run_at, created_at, updated_at = row
    return WorkflowSchedule(
        key,
        workflow,
        decode(encoded),
        None if cron is not None else (interval_ms or 0) / 1000,
        cron,
        next_run_at,
        created_at,
        updated_at,
    )


def names_json(names: list[str]) -> str:
    """Encode workflow names for ``IN (SELECT value FROM json_each(?))``.

    One bound JSON array keeps each SQL string constant (and so prepared once)
    whatever the number of names.
    """
    return orjson.dumps(names).decode()
