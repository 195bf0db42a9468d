"""The records storage keeps and the engine returns: runs, step results, schedules.

All records are frozen dataclasses. Timestamps are integer epoch milliseconds,
which sort and paginate exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

__all__ = [
    "TERMINAL_STATUSES",
    "CreatedRun",
    "RunInfo",
    "RunStatus",
    "StepResult",
    "StepStatus",
    "TakenEvent",
    "WorkflowRun",
    "WorkflowSchedule",
]


class RunStatus(str, Enum):
    """Where a run is in its life. Compares equal to its string value."""

    PENDING = "pending"
    RUNNING = "running"
    SLEEPING = "sleeping"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        """``True`` for ``completed``, ``failed`` and ``cancelled``."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


class StepStatus(str, Enum):
    """What a step's row records. Compares equal to its string value.

    ``running`` marks an attempt that has started and not yet finished; it is what
    makes attempt counts survive a crash.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_EARLY = "completed-early"
    FAILED = "failed"
    SKIPPED = "skipped"
    SLEEPING = "sleeping"
    WAITING = "waiting"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """One execution of a workflow.

    ``lease_id`` is set only on a run returned by a claim: it is the fencing
    token every later write for that run must present.
    """

    id: str
    workflow: str
    input: Any
    idempotency_key: str | None
    status: RunStatus
    created_at: int
    updated_at: int
    lease_id: str | None = None

    def __post_init__(self) -> None:
        if type(self.status) is not RunStatus:
            object.__setattr__(self, "status", RunStatus(self.status))


@dataclass(frozen=True, slots=True)
class StepResult:
    """The recorded outcome of one step, branch, sleep or wait of a run.

    There is one row per step name per run: re-executing a step updates its row.
    ``created_at`` and ``updated_at`` are stamped by storage when the row is
    written (a row keeps its first ``created_at``); ``id`` is assigned by storage
    on first write when empty. ``run_id`` is required when saving.
    """

    name: str
    status: StepStatus
    output: Any = None
    error: str | None = None
    attempts: int = 0
    created_at: int = 0
    updated_at: int = 0
    run_id: str = field(default="", kw_only=True)
    id: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        if type(self.status) is not StepStatus:
            object.__setattr__(self, "status", StepStatus(self.status))


@dataclass(frozen=True, slots=True)
class WorkflowSchedule:
    """A durable recurring schedule: exactly one of ``every`` (seconds) or ``cron``.

    ``next_run_at`` is the epoch-ms time of the next occurrence to fire.
    """

    key: str
    workflow: str
    input: Any
    every: float | None
    cron: str | None
    next_run_at: int
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run and its step results, in the order the steps were first recorded."""

    run: WorkflowRun
    steps: list[StepResult]

    def step(self, name: str) -> StepResult | None:
        """The result recorded for step ``name``, or ``None`` if it has none."""
        for result in self.steps:
            if result.name == name:
                return result
        return None


class CreatedRun(NamedTuple):
    """What ``create_run`` returns: the stored run and whether this call created it."""

    run: WorkflowRun
    created: bool


class TakenEvent(NamedTuple):
    """A buffered event removed by ``take_event``; ``payload`` may be ``None``."""

    payload: Any
