"""``SQLiteStorage``: the storage contract on one SQLite file, through APSW.

Writes go through a group commit (:mod:`._group_commit`): concurrent callers
share ``BEGIN IMMEDIATE`` transactions, each write in its own savepoint, so a
batch of step results costs one commit (one fsync with ``durability="full"``).
Reads use a small pool of reader connections and see every committed write
(WAL snapshots). Several processes may share the file: ``BEGIN IMMEDIATE``
serializes their writes, and a claim is a select-then-update inside one.

Connections are opened on first use. Every driver error leaves a method as
``StorageError(operation=<method name>)`` with the APSW error as ``__cause__``.

``read_only=True`` opens only reader connections, with ``SQLITE_OPEN_READONLY``:
the file is never created or written, so tools can read beside a running
worker. Its ``initialize()`` checks the schema instead of migrating it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import apsw

from reflow_actors.clock import Clock, SystemClock
from reflow_actors.codec import encode
from reflow_actors.records import (
    CreatedRun,
    RunStatus,
    StepResult,
    TakenEvent,
    WorkflowRun,
    WorkflowSchedule,
)
from reflow_actors.storage import _sqlite_events as event_sql
from reflow_actors.storage import _sqlite_runs as run_sql
from reflow_actors.storage import _sqlite_schedules as schedule_sql
from reflow_actors.storage import _sqlite_steps as step_sql
from reflow_actors.storage._common import (
    check_limit,
    owned_steps,
    recurrence_of,
    run_status,
    step_for_save,
    unique_names,
)
from reflow_actors.storage._sqlite_connect import connection_settings
from reflow_actors.storage._sqlite_handles import Handles
from reflow_actors.storage._sqlite_read_only import check_schema
from reflow_actors.storage._sqlite_schema import migrate
from reflow_actors.storage._translate import translate_errors
from reflow_actors.storage.base import ClaimedRun, Prepare

__all__ = ["SQLiteStorage"]

T = TypeVar("T")


class SQLiteStorage:
    """Storage on a SQLite file (or ``":memory:"``), shared safely by threads and processes.

    ``durability="full"`` (the default) fsyncs every commit, so a recorded step
    survives power loss; ``"normal"`` survives a crash of the process only.
    ``busy_timeout`` (seconds) is how long a write waits for another process's
    write lock on each of a few bounded attempts. ``clock`` stamps the
    timestamps the adapter writes (default: the system clock).

    Call :meth:`initialize` once to create or migrate the schema (the engine
    does). ``close()`` is idempotent; any other call after it raises ``StorageError``.

    ``read_only=True`` never creates, migrates or writes the file (``durability``
    is then moot): :meth:`initialize` only checks that the file is a reflow
    database whose schema this version understands, and every write method
    raises ``StorageError(operation, "storage is read-only")``. It reads a
    database that another process is writing (WAL) and needs a file path.
    """

    _REFLOW_TRANSLATES_ERRORS = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: str = "full",
        busy_timeout: float = 5.0,
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> None:
        self._settings = connection_settings(
            os.fspath(path), durability, busy_timeout, read_only=bool(read_only)
        )
        self._durability = durability
        self._read_only = self._settings.read_only
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._handles = Handles(self._settings)
        # After a claim that found nothing, the next one first looks with a read,
        # so an idle poll never takes the write lock; a busy engine skips the look.
        self._idle = True

    def __repr__(self) -> str:
        if self._read_only:
            return f"SQLiteStorage({self.path!r}, read_only=True)"
        return f"SQLiteStorage({self.path!r}, durability={self._durability!r})"

    @property
    def path(self) -> str:
        """The database path as given (``":memory:"`` for an in-memory database)."""
        return self._settings.path

    @property
    def durability(self) -> str:
        """``"full"`` or ``"normal"``."""
        return self._durability

    @property
    def read_only(self) -> bool:
        """Whether this adapter only reads (see the class docstring)."""
        return self._read_only

    # -- connections -----------------------------------------------------------------

    def _write(self, operation: str, work: Callable[[apsw.Connection], T]) -> T:
        return self._handles.write(operation, work)

    def _read(self, operation: str, read: Callable[[apsw.Connection], T]) -> T:
        return self._handles.read(operation, read)

    def _check_writable(self, operation: str) -> None:
        self._handles.check_writable(operation)

    def _connections(self) -> list[apsw.Connection]:
        """Every open connection of this adapter (tests check their settings)."""
        return self._handles.connections()

    def _stats(self) -> dict[str, int]:
        """Commits and operations so far (tests use them to see batching)."""
        return self._handles.stats()

    # -- lifecycle -------------------------------------------------------------------

    @translate_errors
    def initialize(self) -> None:
        """Create or migrate the schema (idempotent, safe from several processes).

        Read-only: check that the schema is one this version reads, changing nothing.
        """
        if self._read_only:
            self._read("initialize", lambda c: check_schema(c, self.path))
        else:
            self._write("initialize", migrate)

    @translate_errors
    def close(self) -> None:
        """Let writes in flight finish, then close every connection."""
        self._handles.close()

    # -- runs ------------------------------------------------------------------------

    @translate_errors
    def create_run(self, run: WorkflowRun) -> CreatedRun:
        """Store ``run`` as given (lease and wake cleared); idempotent on its key."""
        status = run_status(run.status)
        encoded = encode(run.input, "input")
        return self._write("create_run", lambda c: run_sql.create(c, run, status, encoded))

    @translate_errors
    def get_run(self, run_id: str) -> WorkflowRun | None:
        """Return the run without its lease, or ``None``."""
        return self._read("get_run", lambda c: run_sql.get(c, run_id))

    @translate_errors
    def claim_next_run(
        self, workflow_names: Sequence[str], stale_before: int | None = None
    ) -> WorkflowRun | None:
        """Claim the first eligible run (pending, due, then stale), or ``None``."""
        self._check_writable("claim_next_run")
        names = unique_names(workflow_names)
        if not names:
            return None
        now = self._clock.now_ms
        if self._idle and not self._read(
            "claim_next_run", lambda c: run_sql.claimable(c, names, stale_before, now())
        ):
            return None
        claimed = self._write(
            "claim_next_run", lambda c: run_sql.claim(c, names, 1, stale_before, now())
        )
        self._idle = not claimed
        return claimed[0] if claimed else None

    @translate_errors
    def claim_runs(
        self,
        workflow_names: Sequence[str],
        limit: int,
        stale_before: int | None = None,
        prepare: Prepare | None = None,
    ) -> list[ClaimedRun]:
        """Claim up to ``limit`` runs in one transaction, each with its rows.

        ``prepare`` runs inside that transaction, possibly on another caller's
        thread; it should not call the adapter (its reads would not see the claim).
        """
        self._check_writable("claim_runs")
        names = unique_names(workflow_names)
        if not names or limit < 1:
            return []
        now = self._clock.now_ms
        if self._idle and not self._read(
            "claim_runs", lambda c: run_sql.claimable(c, names, stale_before, now())
        ):
            return []  # nothing to claim: no write lock taken
        claimed = self._write(
            "claim_runs",
            lambda c: step_sql.claim_with_steps(
                c, names, limit, stale_before=stale_before, now=now(), prepare=prepare
            ),
        )
        self._idle = not claimed
        return claimed

    @translate_errors
    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        """Refresh ``updated_at`` if the lease is held."""
        now = self._clock.now_ms
        return self._write("heartbeat_run", lambda c: run_sql.heartbeat(c, run_id, lease_id, now()))

    @translate_errors
    def update_run_status(self, run_id: str, status: RunStatus) -> bool:
        """Set ``status`` (no lease check), clearing lease and wake; ``False`` if missing."""
        new, now = run_status(status), self._clock.now_ms
        return self._write("update_run_status", lambda c: run_sql.set_status(c, run_id, new, now()))

    @translate_errors
    def update_claimed_run_status(self, run_id: str, lease_id: str, status: RunStatus) -> bool:
        """Set ``status`` if the lease is held; the lease stays only for ``running``."""
        new, now = run_status(status), self._clock.now_ms
        return self._write(
            "update_claimed_run_status",
            lambda c: run_sql.set_claimed_status(c, run_id, lease_id, new, now()),
        )

    @translate_errors
    def cancel_run(self, run_id: str) -> bool:
        """Cancel a run that is not terminal, clearing lease and wake."""
        now = self._clock.now_ms
        return self._write("cancel_run", lambda c: run_sql.cancel(c, run_id, now()))

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
        return self._read(
            "list_runs",
            lambda c: run_sql.list_runs(
                c, status=wanted, workflow=workflow, limit=limit, before=before, before_id=before_id
            ),
        )

    @translate_errors
    def requeue_run(self, run_id: str) -> bool:
        """``failed``/``cancelled`` → ``pending``, dropping the run's ``failed`` rows."""
        now = self._clock.now_ms
        return self._write("requeue_run", lambda c: run_sql.requeue(c, run_id, now()))

    # -- step rows -------------------------------------------------------------------

    @translate_errors
    def get_step_results(self, run_id: str) -> list[StepResult]:
        """Return the run's rows in creation order (``created_at``, then first write)."""
        return self._read("get_step_results", lambda c: step_sql.rows(c, run_id))

    @translate_errors
    def save_step_result(self, result: StepResult, lease_id: str | None = None) -> bool:
        """Upsert the row for ``(run_id, name)``; fenced by ``lease_id`` when given."""
        step = step_for_save(result)
        output = encode(step.output, "output")
        now = self._clock.now_ms
        return self._write(
            "save_step_result", lambda c: step_sql.save(c, step, output, lease_id, now())
        )

    @translate_errors
    def save_progress(
        self,
        run_id: str,
        lease_id: str,
        steps: Sequence[StepResult],
        status: RunStatus | None = None,
    ) -> bool:
        """If the lease is held: upsert the rows and optionally set ``status``, all or nothing."""
        new = None if status is None else run_status(status)
        writes = [(s, encode(s.output, "output")) for s in owned_steps(run_id, steps)]
        now = self._clock.now_ms
        return self._write(
            "save_progress",
            lambda c: step_sql.save_progress(c, run_id, lease_id, writes, status=new, now=now()),
        )

    # -- sleeping, waiting, events ---------------------------------------------------

    @translate_errors
    def sleep_run(self, run_id: str, lease_id: str, wake_at: int) -> bool:
        """If the lease is held: ``sleeping`` until ``wake_at``, lease released."""
        now = self._clock.now_ms
        return self._write(
            "sleep_run", lambda c: event_sql.sleep(c, run_id, lease_id, wake_at, now())
        )

    @translate_errors
    def wait_run(self, run_id: str, lease_id: str, event_name: str, wake_at: int | None) -> bool:
        """If the lease is held: ``pending`` if the event is buffered, else ``waiting``."""
        now = self._clock.now_ms
        return self._write(
            "wait_run",
            lambda c: event_sql.wait(c, run_id, lease_id, event_name, wake_at=wake_at, now=now()),
        )

    @translate_errors
    def deliver_event(self, run_id: str, event_name: str, payload: Any) -> bool:
        """Buffer an event; a ``waiting`` run becomes ``pending``. ``False`` if no such run."""
        encoded = encode(payload, "payload")
        now = self._clock.now_ms
        return self._write(
            "deliver_event", lambda c: event_sql.deliver(c, run_id, event_name, encoded, now())
        )

    @translate_errors
    def take_event(self, run_id: str, event_name: str) -> TakenEvent | None:
        """Remove and return the oldest buffered event of that name, or ``None``."""
        return self._write("take_event", lambda c: event_sql.take(c, run_id, event_name))

    @translate_errors
    def consume_event(
        self,
        run_id: str,
        lease_id: str,
        event_name: str,
        rows: Callable[[Any], Sequence[StepResult]],
    ) -> TakenEvent | None:
        """If the lease is held: take the oldest event and upsert ``rows(payload)``, atomically.

        ``rows`` runs inside the write transaction, possibly on another caller's
        thread; it should not call the adapter. If it raises, or its rows cannot
        be stored, the event stays buffered and nothing is written.
        """
        now = self._clock.now_ms
        return self._write(
            "consume_event",
            lambda c: event_sql.consume(c, run_id, lease_id, event_name, rows, now=now()),
        )

    # -- schedules -------------------------------------------------------------------

    @translate_errors
    def upsert_schedule(self, schedule: WorkflowSchedule) -> WorkflowSchedule:
        """Insert or update by key, keeping ``next_run_at`` if the recurrence is unchanged."""
        recurrence = recurrence_of(schedule)
        encoded = encode(schedule.input, "input")
        now = self._clock.now_ms
        return self._write(
            "upsert_schedule",
            lambda c: schedule_sql.upsert(c, schedule, recurrence, encoded, now()),
        )

    @translate_errors
    def claim_due_schedule(
        self, workflow_names: Sequence[str], now: int
    ) -> WorkflowSchedule | None:
        """Claim the earliest due schedule (ties by key) and advance it past ``now``."""
        self._check_writable("claim_due_schedule")
        names = unique_names(workflow_names)
        if not names:
            return None
        stamp = self._clock.now_ms
        # An idle poll must not take the write lock that other processes need.
        if not self._read("claim_due_schedule", lambda c: schedule_sql.any_due(c, names, now)):
            return None
        return self._write(
            "claim_due_schedule", lambda c: schedule_sql.claim_due(c, names, now, stamp())
        )

    @translate_errors
    def delete_schedule(self, key: str) -> bool:
        """Remove a schedule; ``True`` if there was one."""
        return self._write("delete_schedule", lambda c: schedule_sql.delete(c, key))

    @translate_errors
    def list_schedules(self) -> list[WorkflowSchedule]:
        """List every schedule, ordered by key."""
        return self._read("list_schedules", schedule_sql.list_all)
