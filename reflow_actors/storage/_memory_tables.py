"""The step rows, event buffer and schedules of ``MemoryStorage`` (callers hold its lock)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from reflow_actors.errors import StorageError
from reflow_actors.records import StepResult, StepStatus, WorkflowSchedule
from reflow_actors.schedule import next_occurrence
from reflow_actors.storage._common import new_id
from reflow_actors.storage._memory_rows import EventRow, ScheduleRow, StepRow

__all__ = ["EventBuffer", "ScheduleTable", "StepTable", "StepWrite"]

StepWrite = tuple[StepResult, str]
"""A row to upsert and its already encoded output."""


class StepTable:
    """Step rows: one per ``(run_id, name)``, with a global index of row ids."""

    def __init__(self, seq: itertools.count[int]) -> None:
        self._seq = seq
        self._by_run: dict[str, dict[str, StepRow]] = {}
        self._by_id: dict[str, StepRow] = {}

    def clear(self) -> None:
        """Forget every row."""
        self._by_run.clear()
        self._by_id.clear()

    def records(self, run_id: str) -> list[StepResult]:
        """Return the run's rows as fresh records, in creation order."""
        rows = sorted(self._by_run.get(run_id, {}).values(), key=StepRow.creation_order)
        return [row.record() for row in rows]

    def check_ids(self, operation: str, writes: Sequence[StepWrite]) -> None:
        """Refuse a new row whose given id another row has, before anything is written.

        SQLite refuses it through the primary key; checking first keeps a
        multi-row write all-or-nothing here too.
        """
        taken: dict[str, tuple[str, str]] = {}
        written: set[tuple[str, str]] = set()
        for step, _output in writes:
            target = (step.run_id, step.name)
            updates = target in written or step.name in self._by_run.get(step.run_id, {})
            written.add(target)
            if not step.id or updates:
                continue  # storage assigns the id, or the row (new or old) keeps its own
            owner = self._by_id.get(step.id)
            holder = (owner.run_id, owner.name) if owner is not None else taken.get(step.id)
            if holder is not None and holder != target:
                run_id, name = holder
                detail = f"step id {step.id!r} is already used by {name!r} of run {run_id!r}"
                raise StorageError(operation, detail)
            taken[step.id] = target

    def write(self, step: StepResult, output: str, now: int) -> None:
        """Upsert by ``(run_id, name)``; an existing row keeps its id and ``created_at``.

        A new row takes the record's id and ``created_at``, or a fresh id and ``now``.
        """
        rows = self._by_run.setdefault(step.run_id, {})
        row = rows.get(step.name)
        if row is None:
            row_id = step.id or new_id()
            row = StepRow(row_id, step.run_id, step.name, step.created_at or now, next(self._seq))
            rows[step.name] = row
            self._by_id[row_id] = row
        row.status, row.output, row.error = StepStatus(step.status), output, step.error
        row.attempts, row.updated_at = step.attempts, now

    def drop_failed(self, run_id: str) -> None:
        """Delete the run's ``failed`` rows (what a requeue re-runs)."""
        rows = self._by_run.get(run_id, {})
        for name, row in list(rows.items()):
            if row.status is StepStatus.FAILED:
                del rows[name]
                del self._by_id[row.id]


class EventBuffer:
    """Buffered events per ``(run_id, event_name)``, taken oldest first."""

    def __init__(self, seq: itertools.count[int]) -> None:
        self._seq = seq
        self._events: dict[tuple[str, str], list[EventRow]] = {}

    def clear(self) -> None:
        """Forget every event."""
        self._events.clear()

    def has(self, run_id: str, event_name: str) -> bool:
        """Tell whether an event of that name is buffered for the run."""
        return (run_id, event_name) in self._events

    def append(self, run_id: str, event_name: str, payload: str, now: int) -> None:
        """Buffer an encoded payload delivered at ``now``."""
        event = EventRow(payload, now, next(self._seq))
        self._events.setdefault((run_id, event_name), []).append(event)

    def oldest(self, run_id: str, event_name: str) -> EventRow | None:
        """Return the oldest event (by ``created_at``, then delivery order), if any."""
        events = self._events.get((run_id, event_name))
        return None if events is None else min(events, key=EventRow.order)

    def remove(self, run_id: str, event_name: str, event: EventRow) -> None:
        """Remove ``event`` (as returned by :meth:`oldest`) from the buffer."""
        events = self._events[(run_id, event_name)]
        events.remove(event)
        if not events:
            del self._events[(run_id, event_name)]


class ScheduleTable:
    """Schedules by key."""

    def __init__(self) -> None:
        self._rows: dict[str, ScheduleRow] = {}

    def clear(self) -> None:
        """Forget every schedule."""
        self._rows.clear()

    def upsert(
        self,
        schedule: WorkflowSchedule,
        recurrence: tuple[int | None, str | None],
        encoded: str,
        now: int,
    ) -> WorkflowSchedule:
        """Insert or update; updates keep ``created_at`` (and ``next_run_at`` if same cadence)."""
        row = self._rows.get(schedule.key)
        if row is None:
            row = ScheduleRow(schedule.key, schedule.next_run_at, schedule.created_at or now)
            self._rows[schedule.key] = row
        elif (row.interval_ms, row.cron) != recurrence:
            row.next_run_at = schedule.next_run_at
        row.workflow, row.input, row.updated_at = schedule.workflow, encoded, now
        row.interval_ms, row.cron = recurrence
        return row.record()

    def claim_due(self, names: set[str], now: int, stamp: int) -> WorkflowSchedule | None:
        """Advance the earliest schedule due at ``now`` (ties by key); return it as it was."""
        due = [
            row for row in self._rows.values() if row.workflow in names and row.next_run_at <= now
        ]
        if not due:
            return None
        row = min(due, key=lambda row: (row.next_run_at, row.key))
        claimed = row.record()
        row.next_run_at = next_occurrence(
            row.next_run_at, now, every_ms=row.interval_ms, cron=row.cron
        )
        row.updated_at = stamp
        return claimed

    def delete(self, key: str) -> bool:
        """Remove a schedule; ``True`` if there was one."""
        return self._rows.pop(key, None) is not None

    def records(self) -> list[WorkflowSchedule]:
        """Every schedule as a fresh record, ordered by key."""
        return [self._rows[key].record() for key in sorted(self._rows)]
