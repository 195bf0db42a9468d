"""Attempt markers: "attempt N of this step has started", written before it runs.

A conditional step's first marker is also its recorded ``when`` decision, so
it is written after the predicate, and a recovered run never asks again.


A marker is the step's row with status ``running`` and ``attempts = N``. It is
never a write of its own: it rides on writes the engine makes anyway (the
claim, the previous step's result, the previous attempt's failure), so after
a ``kill -9`` during step 3's first attempt the recovered run runs attempt 2
and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..records import StepResult, StepStatus, WorkflowRun
from ..storage.base import Prepare
from ..workflow import ParallelUnit, SleepUnit, StepUnit, Unit, WaitUnit, Workflow

__all__ = ["DONE", "claim_markers", "first_attempt", "marker", "markers_for"]

DONE = frozenset({StepStatus.COMPLETED, StepStatus.COMPLETED_EARLY, StepStatus.SKIPPED})
_STARTED = frozenset({StepStatus.RUNNING, StepStatus.FAILED})


def marker(run_id: str, name: str, previous: StepResult | None) -> StepResult:
    """The marker for the next attempt of ``name`` after its ``previous`` row."""
    started = previous.attempts if previous is not None and previous.status in _STARTED else 0
    error = previous.error if previous is not None else None
    return StepResult(name, StepStatus.RUNNING, None, error, started + 1, run_id=run_id)


def first_attempt(row: StepResult | None) -> int:
    """The attempt number a step starts at, given its (marker) row."""
    if row is not None and row.status is StepStatus.RUNNING:
        return max(1, row.attempts)
    return 1


def markers_for(unit: Unit, rows: Mapping[str, StepResult], run_id: str) -> list[StepResult]:
    """Markers to write before ``unit`` starts (none for sleeps and waits)."""
    if isinstance(unit, StepUnit):
        row = rows.get(unit.name)
        if row is not None and row.status in DONE:
            return []
        if unit.when is not None and (row is None or row.status is not StepStatus.RUNNING):
            # The marker of a conditional step records its decision: it is written
            # once ``when`` said yes, never before it was asked.
            return []
        return [marker(run_id, unit.name, row)]
    if isinstance(unit, ParallelUnit):
        found: list[StepResult] = []
        for branch in unit.branches:
            row = rows.get(branch.name)
            if row is None or row.status is not StepStatus.COMPLETED:
                found.append(marker(run_id, branch.name, row))
        return found
    return []


def _claim_markers(
    workflows: Mapping[str, Workflow[Any, Any]], run: WorkflowRun, rows: list[StepResult]
) -> list[StepResult]:
    workflow = workflows.get(run.workflow)
    if workflow is None:
        return []
    by_name = {row.name: row for row in rows}
    for unit in workflow.units:
        if isinstance(unit, (SleepUnit, WaitUnit)):
            row = by_name.get(unit.name)
            if row is not None and row.status is StepStatus.COMPLETED:
                continue
            return []
        if isinstance(unit, StepUnit):
            row = by_name.get(unit.name)
            if row is not None and row.status is StepStatus.COMPLETED_EARLY:
                return []
        pending = markers_for(unit, by_name, run.id)
        if pending:
            return pending
    return []


def claim_markers(workflows: Mapping[str, Workflow[Any, Any]]) -> Prepare:
    """The ``prepare`` callback for claims: mark the first unfinished unit's attempt."""

    def prepare(run: WorkflowRun, rows: list[StepResult]) -> list[StepResult]:
        return _claim_markers(workflows, run, rows)

    return prepare
