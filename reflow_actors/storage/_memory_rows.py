"""The mutable rows ``MemoryStorage`` keeps, and their conversion to frozen records.

Values stay encoded (JSON text) inside a row; ``record()`` decodes them afresh,
which is what makes every returned record an independent copy.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from reflow_actors.codec import decode
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun, WorkflowSchedule

__all__ = ["EventRow", "RunRow", "ScheduleRow", "StepRow", "eligible"]

_SUSPENDED = (RunStatus.SLEEPING, RunStatus.WAITING)


class RunRow:
    """One run as stored; ``seq`` is its insertion order (the tie-break after ``created_at``)."""

    __slots__ = (
        "created_at",
        "id",
        "idempotency_key",
        "input",
        "lease_id",
        "seq",
        "status",
        "updated_at",
        "wake_at",
        "workflow",
    )

    def __init__(self, run: WorkflowRun, encoded_input: str, status: RunStatus) -> None:
        self.id = run.id
        self.workflow = run.workflow
        self.input = encoded_input
        self.idempotency_key = run.idempotency_key
        self.status = status
        self.created_at = run.created_at
        self.updated_at = run.updated_at
        self.lease_id: str | None = None
        self.wake_at: int | None = None
        self.seq = 0

    def claim_order(self) -> tuple[int, int]:
        """Sort key within a claim group: oldest first, then first inserted."""
        return (self.created_at, self.seq)

    def set_status(
        self, status: RunStatus, lease_id: str | None, now: int, wake_at: int | None = None
    ) -> None:
        """Move to ``status`` with the given lease and wake time, touched at ``now``."""
        self.status = status
        self.lease_id = lease_id
        self.wake_at = wake_at
        self.updated_at = now

    def record(
        self,
        *,
        status: RunStatus | None = None,
        updated_at: int | None = None,
        lease_id: str | None = None,
    ) -> WorkflowRun:
        """Build a fresh ``WorkflowRun`` (lease shown only when passed, as claims do)."""
        return WorkflowRun(
            self.id,
            self.workflow,
            decode(self.input),
            self.idempotency_key,
            self.status if status is None else status,
            self.created_at,
            self.updated_at if updated_at is None else updated_at,
            lease_id,
        )


def eligible(
    rows: Iterable[RunRow], names: set[str], limit: int, stale_before: int | None, now: int
) -> list[RunRow]:
    """Up to ``limit`` claimable runs in claim order: pending, then due, then stale."""
    pending: list[RunRow] = []
    due: list[RunRow] = []
    stale: list[RunRow] = []
    for row in rows:
        if row.workflow not in names:
            continue
        if row.status is RunStatus.PENDING:
            pending.append(row)
        elif row.status in _SUSPENDED:
            if row.wake_at is not None and row.wake_at <= now:
                due.append(row)
        elif (
            row.status is RunStatus.RUNNING
            and stale_before is not None
            and row.updated_at <= stale_before
        ):
            stale.append(row)
    chosen: list[RunRow] = []
    for group in (pending, due, stale):
        chosen.extend(heapq.nsmallest(limit - len(chosen), group, key=RunRow.claim_order))
        if len(chosen) >= limit:
            break
    return chosen


class StepRow:
    """One step row; the id, ``created_at`` and ``seq`` of its first write never change."""

    __slots__ = (
        "attempts",
        "created_at",
        "error",
        "id",
        "name",
        "output",
        "run_id",
        "seq",
        "status",
        "updated_at",
    )

    def __init__(self, step_id: str, run_id: str, name: str, created_at: int, seq: int) -> None:
        self.id = step_id
        self.run_id = run_id
        self.name = name
        self.created_at = created_at
        self.seq = seq
        self.status = StepStatus.RUNNING
        self.output = "null"
        self.error: str | None = None
        self.attempts = 0
        self.updated_at = created_at

    def creation_order(self) -> tuple[int, int]:
        """Sort key of ``get_step_results``: ``created_at``, then first write."""
        return (self.created_at, self.seq)

    def record(self) -> StepResult:
        """Build a fresh ``StepResult`` with its output decoded."""
        return StepResult(
            self.name,
            self.status,
            decode(self.output),
            self.error,
            self.attempts,
            self.created_at,
            self.updated_at,
            run_id=self.run_id,
            id=self.id,
        )


class EventRow:
    """A buffered event's payload (encoded) and its position in the buffer."""

    __slots__ = ("created_at", "payload", "seq")

    def __init__(self, payload: str, created_at: int, seq: int) -> None:
        self.payload = payload
        self.created_at = created_at
        self.seq = seq

    def order(self) -> tuple[int, int]:
        """Oldest first: ``created_at``, then delivery order."""
        return (self.created_at, self.seq)


class ScheduleRow:
    """A schedule as stored: ``interval_ms`` xor ``cron``, input encoded."""

    __slots__ = (
        "created_at",
        "cron",
        "input",
        "interval_ms",
        "key",
        "next_run_at",
        "updated_at",
        "workflow",
    )

    def __init__(self, key: str, next_run_at: int, created_at: int) -> None:
        self.key = key
        self.next_run_at = next_run_at
        self.created_at = created_at
        self.updated_at = created_at
        self.workflow = ""
        self.input = "null"
        self.interval_ms: int | None = None
        self.cron: str | None = None

    def record(self) -> WorkflowSchedule:
        """Build a fresh ``WorkflowSchedule``; ``every`` back in seconds."""
        every = None if self.interval_ms is None else self.interval_ms / 1000
        return WorkflowSchedule(
            self.key,
            self.workflow,
            decode(self.input),
            every,
            self.cron,
            self.next_run_at,
            self.created_at,
            self.updated_at,
        )


def newest(
    rows: Iterable[RunRow],
    *,
    status: RunStatus | None,
    workflow: str | None,
    limit: int,
    before: int | None,
    before_id: str | None,
) -> list[RunRow]:
    """``list_runs``: newest first by ``(created_at, id)``, filtered, keyset-paginated."""
    kept = [
        row
        for row in rows
        if (status is None or row.status is status)
        and (workflow is None or row.workflow == workflow)
        and (
            before is None
            or row.created_at < before
            or (before_id is not None and row.created_at == before and row.id < before_id)
        )
    ]
    return heapq.nlargest(limit, kept, key=lambda row: (row.created_at, row.id))
