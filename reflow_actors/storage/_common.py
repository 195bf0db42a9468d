"""Argument checks and small pieces both built-in adapters share, so they agree exactly."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace

from reflow_actors.errors import ConfigError
from reflow_actors.records import RunStatus, StepResult, WorkflowSchedule

__all__ = [
    "check_limit",
    "list_filter",
    "new_id",
    "owned_steps",
    "recurrence_of",
    "run_status",
    "step_for_save",
    "unique_names",
]


def new_id() -> str:
    """Return a fresh unique identifier (lease ids, step row ids, event ids)."""
    return os.urandom(16).hex()


def run_status(value: RunStatus | str) -> RunStatus:
    """``value`` as a ``RunStatus``; an unknown status is a ``ConfigError`` naming it."""
    if type(value) is RunStatus:
        return value
    try:
        return RunStatus(value)
    except ValueError:
        known = ", ".join(status.value for status in RunStatus)
        raise ConfigError(f"unknown run status {value!r}; expected one of {known}") from None


def check_limit(limit: int) -> None:
    """``list_runs`` pages hold at least one run: ``limit`` must be a positive int."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"list_runs limit must be a positive int; got {limit!r}")


def unique_names(names: Iterable[str]) -> list[str]:
    """Workflow names without repeats, in the order given."""
    return list(dict.fromkeys(names))


def step_for_save(result: StepResult) -> StepResult:
    """Check a row handed to ``save_step_result``: it must name its run."""
    if not result.run_id:
        raise ConfigError(f"step result {result.name!r} has no run_id; set run_id to save it")
    return result


def owned_steps(run_id: str, steps: Sequence[StepResult]) -> list[StepResult]:
    """Rows to write for ``run_id``: an empty ``run_id`` is filled in, another run's refused."""
    owned: list[StepResult] = []
    for step in steps:
        if not step.run_id:
            step = replace(step, run_id=run_id)  # noqa: PLW2901 - the filled-in copy is what we keep
        elif step.run_id != run_id:
            raise ConfigError(
                f"step result {step.name!r} belongs to run {step.run_id!r}, not {run_id!r}"
            )
        owned.append(step)
    return owned


def recurrence_of(schedule: WorkflowSchedule) -> tuple[int | None, str | None]:
    """``(interval_ms, cron)`` of a schedule, exactly one of them set.

    ``every`` is seconds in the record and whole milliseconds in storage, which is
    also how two recurrences compare (``every=0.1`` equals ``every=0.1000001``).
    """
    every, cron = schedule.every, schedule.cron
    if (every is None) == (cron is None):
        raise ConfigError(
            f"schedule {schedule.key!r} needs exactly one of every= or cron=; "
            f"got every={every!r}, cron={cron!r}"
        )
    if every is not None:
        if (
            isinstance(every, bool)
            or not isinstance(every, (int, float))
            or not math.isfinite(every)
        ):
            raise ConfigError(f"schedule {schedule.key!r} every= must be seconds; got {every!r}")
        interval_ms = round(every * 1000)
        if interval_ms <= 0:
            raise ConfigError(
                f"schedule {schedule.key!r} every= must be at least 1 ms; got {every!r}"
            )
        return interval_ms, None
    if not isinstance(cron, str) or not cron.strip():
        raise ConfigError(f"schedule {schedule.key!r} cron= must be a non-empty string")
    return None, cron


def list_filter(
    *,
    status: RunStatus | None,
    workflow: str | None,
    before: int | None,
    before_id: str | None,
    mark: str,
) -> tuple[str, list[object]]:
    """The ``WHERE`` clause (or ``""``) and parameters of a ``list_runs`` query.

    ``mark`` is the driver's parameter placeholder (``?`` or ``%s``). With
    ``before_id`` the cursor is a row-value comparison: an index range that is
    exact when runs share a ``created_at``.
    """
    conditions: list[str] = []
    params: list[object] = []
    if status is not None:
        conditions.append(f"status = {mark}")
        params.append(status.value)
    if workflow is not None:
        conditions.append(f"workflow = {mark}")
        params.append(workflow)
    if before is not None and before_id is not None:
        conditions.append(f"(created_at, id) < ({mark}, {mark})")
        params.extend((before, before_id))
    elif before is not None:
        conditions.append(f"created_at < {mark}")
        params.append(before)
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), params
