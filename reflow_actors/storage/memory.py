"""``MemoryStorage``: the storage contract in plain dicts, for tests and as its reference.

Every method takes one lock for its whole body, so each is atomic exactly as a
SQLite transaction is. Persisted values are kept as encoded JSON text and
decoded on every read: callers always get fresh copies, and a value the codec
refuses raises ``SerializationError`` before anything is written.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from reflow_actors.clock import Clock, SystemClock
from reflow_actors.codec import decode, encode
from reflow_actors.errors import StorageError
from reflow_actors.records import (
    TERMINAL_STATUSES,
    CreatedRun,
    RunStatus,
    StepResult,
    TakenEvent,
    WorkflowRun,
    WorkflowSchedule,
)
from reflow_actors.storage._common import (
    check_limit,
    new_id,
    owned_steps,
    recurrence_of,
    run_status,
    step_for_save,
    unique_names,
)
from reflow_actors.storage._memory_index import ClaimIndex
from reflow_actors.storage._memory_rows import RunRow, newest
from reflow_actors.storage._memory_tables import EventBuffer, ScheduleTable, StepTable, StepWrite
from reflow_actors.storage._translate import closed_error, translate_errors
from reflow_actors.storage.base import ClaimedRun, Prepare

__all__ = ["MemoryStorage"]

_PENDING = RunStatus.PENDING
_RUNNING = RunStatus.RUNNING


class MemoryStorage:
    """In-process storage for tests; nothing survives the process.

    ``clock`` (default :class:`~reflow_actors.clock.SystemClock`) stamps every
    timestamp the adapter writes; pass the engine's ``VirtualClock`` in tests.
    All methods are thread-safe. ``close()`` is idempotent; any other call after
    it raises ``StorageError``.
    """

    _REFLOW_TRANSLATES_ERRORS = True

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        # Re-entrant so that a claim_runs ``prepare`` that reads back from the
        # adapter does not deadlock (it must not write, though).
        self._lock = threading.RLock()
        self._closed = False
        self._seq = itertools.count()
        self._runs: dict[str, RunRow] = {}
        self._claimable = ClaimIndex()
        self._keys: dict[tuple[str, str], RunRow] = {}
        self._steps = StepTable(self._seq)
        self._events = EventBuffer(self._seq)
        self._schedules = ScheduleTable()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._runs)} runs"
        return f"MemoryStorage({state})"

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise closed_error(operation)

    def _set(
        self,
        row: RunRow,
        status: RunStatus,
        lease_id: str | None,
        now: int,
        wake_at: int | None = None,
    ) -> None:
        row.set_status(status, lease_id, now, wake_at)
        self._claimable.track(row)

    def _held(self, run_id: str, lease_id: str) -> RunRow | None:
        run = self._runs.get(run_id)
        if run is None or run.status is not _RUNNING or run.lease_id != lease_id:
            return None
        return run

    # -- lifecycle -------------------------------------------------------------------

    @translate_errors
    def initialize(self) -> None:
        """Nothing to create; checks the adapter is open."""
        with self._lock:
            self._check_open("initialize")

    @translate_errors
    def close(self) -> None:
        """Drop everything; later calls (other than ``close``) raise ``StorageError``."""
        with self._lock:
            self._closed = True
            self._runs.clear()
            self._claimable.clear()
            self._keys.clear()
            self._steps.clear()
            self._events.clear()
            self._schedules.clear()

    # -- runs ------------------------------------------------------------------------

    @translate_errors
    def create_run(self, run: WorkflowRun) -> CreatedRun:
        """Store ``run`` as given (lease and wake cleared); idempotent on its key."""
        status = run_status(run.status)
        encoded = encode(run.input, "input")
        with self._lock:
            self._check_open("create_run")
            key = run.idempotency_key
            if key is not None:
                existing = self._keys.get((run.workflow, key))
                if existing is not None:
                    return CreatedRun(existing.record(), created=False)
            if run.id in self._runs:
                raise StorageError("create_run", f"a run with id {run.id!r} already exists")
            row = RunRow(run, encoded, status)
            row.seq = next(self._seq)
            self._runs[run.id] = row
            self._claimable.track(row)
            if key is not None:
                self._keys[(run.workflow, key)] = row
            return CreatedRun(row.record(), created=True)

    @translate_errors
    def get_run(self, run_id: str) -> WorkflowRun | None:
        """Return the run without its lease, or ``None``."""
        with self._lock:
            self._check_open("get_run")
            row = self._runs.get(run_id)
            return None if row is None else row.record()

    @translate_errors
    def claim_next_run(
        self, workflow_names: Sequence[str], stale_before: int | None = None
    ) -> WorkflowRun | None:
        """Claim the first eligible run (pending, due, then stale), or ``None``."""
        claimed = self._claim("claim_next_run", workflow_names, 1, stale_before, None)
        return claimed[0].run if claimed else None

    @translate_errors
    def claim_runs(
        self,
        workflow_names: Sequence[str],
        limit: int,
        stale_before: int | None = None,
        prepare: Prepare | None = None,
    ) -> list[ClaimedRun]:
        """Claim up to ``limit`` runs at once, each with its rows (plus what ``prepare`` adds).

        ``prepare`` runs under the adapter's lock: it may read, never write.
        """
        return self._claim("claim_runs", workflow_names, limit, stale_before, prepare)

    def _claim(
        self,
        operation: str,
        workflow_names: Sequence[str],
        limit: int,
        stale_before: int | None,
        prepare: Prepare | None,
    ) -> list[ClaimedRun]:
        names = set(unique_names(workflow_names))
        with self._lock:
            self._check_open(operation)
            if not names or limit < 1:
                return []
            now = self._clock.now_ms()
            chosen = self._claimable.choose(self._runs, names, limit, stale_before, now)
            # Plan everything first (leases, prepared rows, their encoding) and
            # mutate only once all of it succeeded: a failing prepare claims nothing.
            leases = [new_id() for _ in chosen]
            writes: list[StepWrite] = []
            try:
                for row, lease in zip(chosen, leases, strict=True):
                    if prepare is not None:
                        run = row.record(status=_RUNNING, updated_at=now, lease_id=lease)
                        extra = owned_steps(row.id, prepare(run, self._steps.records(row.id)) or ())
                        writes.extend((step, encode(step.output, "output")) for step in extra)
                self._steps.check_ids(operation, writes)
            except BaseException:
                self._claimable.unchoose(chosen)  # nothing was claimed
                raise
            for row, lease in zip(chosen, leases, strict=True):
                row.status, row.lease_id, row.wake_at, row.updated_at = _RUNNING, lease, None, now
                self._claimable.track(row)
            for step, output in writes:
                self._steps.write(step, output, now)
            return [
                ClaimedRun(row.record(lease_id=row.lease_id), self._steps.records(row.id))
                for row in chosen
            ]

    @translate_errors
    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        """Refresh ``updated_at`` if the lease is held."""
        with self._lock:
            self._check_open("heartbeat_run")
            row = self._held(run_id, lease_id)
            if row is None:
                return False
            row.updated_at = self._clock.now_ms()
            return True

    @translate_errors
    def update_run_status(self, run_id: str, status: RunStatus) -> bool:
        """Set ``status`` (no lease check), clearing lease and wake; ``False`` if missing."""
        new = run_status(status)
        with self._lock:
            self._check_open("update_run_status")
            row = self._runs.get(run_id)
            if row is None:
                return False
            self._set(row, new, None, self._clock.now_ms())
            return True

    @translate_errors
    def update_claimed_run_status(self, run_id: str, lease_id: str, status: RunStatus) -> bool:
        """Set ``status`` if the lease is held; the lease stays only for ``running``."""
        new = run_status(status)
        with self._lock:
            self._check_open("update_claimed_run_status")
            row = self._held(run_id, lease_id)
            if row is None:
                return False
            self._set(row, new, lease_id if new is _RUNNING else None, self._clock.now_ms())
            return True

    @translate_errors
    def cancel_run(self, run_id: str) -> bool:
        """Cancel a run that is not terminal, clearing lease and wake."""
        with self._lock:
            self._check_open("cancel_run")
            row = self._runs.get(run_id)
            if row is None or row.status in TERMINAL_STATUSES:
                return False
            self._set(row, RunStatus.CANCELLED, None, self._clock.now_ms())
            return True

    @translate_errors
    def sleep_run(self, run_id: str, lease_id: str, wake_at: int) -> bool:
        """If the lease is held: ``sleeping`` until ``wake_at``, lease released."""
        with self._lock:
            self._check_open("sleep_run")
            row = self._held(run_id, lease_id)
            if row is None:
                return False
            self._set(row, RunStatus.SLEEPING, None, self._clock.now_ms(), wake_at)
            return True

    @translate_errors
    def wait_run(self, run_id: str, lease_id: str, event_name: str, wake_at: int | None) -> bool:
        """If the lease is held: ``pending`` if the event is buffered, else ``waiting``."""
        with self._lock:
            self._check_open("wait_run")
            row = self._held(run_id, lease_id)
            if row is None:
                return False
            now = self._clock.now_ms()
            if self._events.has(run_id, event_name):
                self._set(row, _PENDING, None, now)
            else:
                self._set(row, RunStatus.WAITING, None, now, wake_at)
            return True

    @translate_errors
    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        before: int | None = None,
        before_id: str | None = None,
    ) -> list[WorkflowRun]:
        """List runs newest first by ``(created_at, id)``, filtered, keyset-paginated."""
        check_limit(limit)
        wanted = None if status is None else run_status(status)
        with self._lock:
            self._check_open("list_runs")
            found = newest(
                self._runs.values(),
                status=wanted,
                workflow=workflow,
                limit=limit,
                before=before,
                before_id=before_id,
            )
            return [row.record() for row in found]

    @translate_errors
    def requeue_run(self, run_id: str) -> bool:
        """``failed``/``cancelled`` → ``pending``, dropping the run's ``failed`` rows."""
        with self._lock:
            self._check_open("requeue_run")
            row = self._runs.get(run_id)
            if row is None or row.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
                return False
            self._set(row, _PENDING, None, self._clock.now_ms())
            self._steps.drop_failed(run_id)
            return True

    # -- step rows -------------------------------------------------------------------

    @translate_errors
    def get_step_results(self, run_id: str) -> list[StepResult]:
        """Return the run's rows in creation order (``created_at``, then first write)."""
        with self._lock:
            self._check_open("get_step_results")
            return self._steps.records(run_id)

    @translate_errors
    def save_step_result(self, result: StepResult, lease_id: str | None = None) -> bool:
        """Upsert the row for ``(run_id, name)``; fenced by ``lease_id`` when given."""
        step = step_for_save(result)
        writes = [(step, encode(step.output, "output"))]
        with self._lock:
            self._check_open("save_step_result")
            if lease_id is not None and self._held(step.run_id, lease_id) is None:
                return False
            self._steps.check_ids("save_step_result", writes)
            self._steps.write(step, writes[0][1], self._clock.now_ms())
            return True

    @translate_errors
    def save_progress(
        self,
        run_id: str,
        lease_id: str,
        steps: Sequence[StepResult],
        status: RunStatus | None = None,
    ) -> bool:
        """If the lease is held: upsert ``steps`` and optionally set ``status``, all or nothing."""
        new = None if status is None else run_status(status)
        writes = [(step, encode(step.output, "output")) for step in owned_steps(run_id, steps)]
        with self._lock:
            self._check_open("save_progress")
            row = self._held(run_id, lease_id)
            if row is None:
                return False
            self._steps.check_ids("save_progress", writes)
            now = self._clock.now_ms()
            for step, output in writes:
                self._steps.write(step, output, now)
            if new is not None:
                self._set(row, new, lease_id if new is _RUNNING else None, now)
            return True

    # -- events ----------------------------------------------------------------------

    @translate_errors
    def deliver_event(self, run_id: str, event_name: str, payload: Any) -> bool:
        """Buffer an event; a ``waiting`` run becomes ``pending``. ``False`` if no such run."""
        encoded = encode(payload, "payload")
        with self._lock:
            self._check_open("deliver_event")
            row = self._runs.get(run_id)
            if row is None:
                return False
            now = self._clock.now_ms()
            self._events.append(run_id, event_name, encoded, now)
            if row.status is RunStatus.WAITING:
                self._set(row, _PENDING, None, now)
            return True

    @translate_errors
    def take_event(self, run_id: str, event_name: str) -> TakenEvent | None:
        """Remove and return the oldest buffered event of that name, or ``None``."""
        with self._lock:
            self._check_open("take_event")
            event = self._events.oldest(run_id, event_name)
            if event is None:
                return None
            self._events.remove(run_id, event_name, event)
            return TakenEvent(decode(event.payload))

    @translate_errors
    def consume_event(
        self,
        run_id: str,
        lease_id: str,
        event_name: str,
        rows: Callable[[Any], Sequence[StepResult]],
    ) -> TakenEvent | None:
        """If the lease is held: take the oldest event and upsert ``rows(payload)``, atomically.

        ``rows`` runs under the adapter's lock; if it raises, or its rows cannot be
        stored, the event stays buffered and nothing is written.
        """
        with self._lock:
            self._check_open("consume_event")
            event = self._events.oldest(run_id, event_name)
            if self._held(run_id, lease_id) is None or event is None:
                return None
            payload = decode(event.payload)
            steps = owned_steps(run_id, rows(payload))
            writes = [(step, encode(step.output, "output")) for step in steps]
            self._steps.check_ids("consume_event", writes)
            self._events.remove(run_id, event_name, event)
            now = self._clock.now_ms()
            for step, output in writes:
                self._steps.write(step, output, now)
            return TakenEvent(payload)

    # -- schedules -------------------------------------------------------------------

    @translate_errors
    def upsert_schedule(self, schedule: WorkflowSchedule) -> WorkflowSchedule:
        """Insert or update by key, keeping ``next_run_at`` if the recurrence is unchanged."""
        recurrence = recurrence_of(schedule)
        encoded = encode(schedule.input, "input")
        with self._lock:
            self._check_open("upsert_schedule")
            return self._schedules.upsert(schedule, recurrence, encoded, self._clock.now_ms())

    @translate_errors
    def claim_due_schedule(
        self, workflow_names: Sequence[str], now: int
    ) -> WorkflowSchedule | None:
        """Claim the earliest due schedule (ties by key) and advance it past ``now``."""
        with self._lock:
            self._check_open("claim_due_schedule")
            return self._schedules.claim_due(set(workflow_names), now, self._clock.now_ms())

    @translate_errors
    def delete_schedule(self, key: str) -> bool:
        """Remove a schedule; ``True`` if there was one."""
        with self._lock:
            self._check_open("delete_schedule")
            return self._schedules.delete(key)

    @translate_errors
    def list_schedules(self) -> list[WorkflowSchedule]:
        """List every schedule, ordered by key."""
        with self._lock:
            self._check_open("list_schedules")
            return self._schedules.records()
