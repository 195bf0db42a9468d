"""``PostgresStorage``: the storage contract on a PostgreSQL server, through psycopg 3.

Engines on several machines share one database. A claim is ``SELECT ... FOR
UPDATE SKIP LOCKED`` followed by an ``UPDATE`` in one transaction, so
concurrent claimers never wait for each other and never get the same run.
Every write that needs the lease checks ``status = 'running' AND lease_id =
<lease>`` in the same statement or, for multi-statement writes, locks the run's
row under that condition first; a lost lease is reported as ``False``, never
written through. Timestamps come from the adapter's clock, not the server's,
so tests on a :class:`~reflow_actors.clock.VirtualClock` work here too.

An enqueue, a delivered event that wakes a waiting run, or a requeue sends
``NOTIFY <schema>_wakeup`` when it commits (a trigger, see :mod:`._pg_schema`);
:meth:`PostgresStorage.subscribe_wakeups` is how an engine hears it, so a run
enqueued on one machine starts on another without waiting for a poll.

Install with ``pip install "reflow-actors[postgres]"``. Every driver error
leaves a method as ``StorageError(operation=<method name>)`` with the psycopg
error as ``__cause__``; serialization failures and deadlocks are retried a few
times first (:mod:`._pg_connect`).
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from reflow_actors.clock import Clock, SystemClock
from reflow_actors.codec import encode
from reflow_actors.errors import ConfigError
from reflow_actors.records import (
    CreatedRun,
    RunStatus,
    StepResult,
    TakenEvent,
    WorkflowRun,
    WorkflowSchedule,
)
from reflow_actors.storage import _pg_events as event_sql
from reflow_actors.storage import _pg_runs as run_sql
from reflow_actors.storage import _pg_schedules as schedule_sql
from reflow_actors.storage import _pg_steps as step_sql
from reflow_actors.storage._common import (
    check_limit,
    owned_steps,
    recurrence_of,
    run_status,
    step_for_save,
    unique_names,
)
from reflow_actors.storage._pg_connect import Connections, check_options
from reflow_actors.storage._pg_copy import CopyReport, copy_storage
from reflow_actors.storage._pg_schema import migrate
from reflow_actors.storage._pg_sql import Sql, channel_for, render
from reflow_actors.storage._translate import closed_error, translate_errors
from reflow_actors.storage.base import ClaimedRun, Prepare

__all__ = ["CopyReport", "PostgresStorage", "copy_storage"]

T = TypeVar("T")
Conn = psycopg.Connection[Any]


class PostgresStorage:
    """Storage on a PostgreSQL database, shared by engines on any number of machines.

    ``dsn`` is a libpq connection string or URI (``postgresql://user@host/db``).
    Tables live in ``schema`` (created by :meth:`initialize`; default
    ``"reflow"``), so independent deployments can share a database.
    ``pool_size`` caps this adapter's connections (plus one for ``LISTEN`` while
    an engine subscribes to wake-ups); ``connect_timeout`` (seconds) bounds
    opening them. ``clock`` stamps every timestamp the adapter writes (default:
    the system clock; pass the engine's ``VirtualClock`` in tests).

    Connections are opened on first use. ``close()`` is idempotent; any other
    call after it raises ``StorageError``.
    """

    _REFLOW_TRANSLATES_ERRORS = True

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "reflow",
        pool_size: int = 10,
        connect_timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(dsn, str):
            raise ConfigError(f"dsn must be a connection string; got {type(dsn).__name__}")
        try:
            self._target = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as error:
            raise ConfigError(f"dsn is not a valid PostgreSQL connection string: {error}") from None
        size, timeout = check_options(pool_size, connect_timeout)
        self._sql: Sql = render(schema)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._connections = Connections(
            dsn, name=schema, channel=channel_for(schema), pool_size=size, connect_timeout=timeout
        )

    def __repr__(self) -> str:
        where = f"{self._target.get('host', 'localhost')}/{self._target.get('dbname', '')}"
        return f"PostgresStorage({where!r}, schema={self.schema!r})"

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this adapter's tables."""
        return self._sql.schema

    @property
    def channel(self) -> str:
        """The ``LISTEN``/``NOTIFY`` channel engines on this schema share."""
        return channel_for(self.schema)

    def _run(self, operation: str, work: Callable[[Conn], T]) -> T:
        """Run ``work`` on a pooled connection (retrying transient transaction failures)."""
        return self._connections.run(operation, work)

    def _check_open(self, operation: str) -> None:
        if self._connections.closed:
            raise closed_error(operation)

    # -- lifecycle -------------------------------------------------------------------

    @translate_errors
    def initialize(self) -> None:
        """Create or migrate the schema (idempotent, safe from several processes at once)."""
        schema = self.schema
        self._run("initialize", lambda c: migrate(c, schema))

    @translate_errors
    def close(self) -> None:
        """Stop listening and close every connection; later calls raise ``StorageError``."""
        self._connections.close()

    @translate_errors
    def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from a listener thread) whenever a run may have become claimable.

        Covers runs made ``pending`` by any process on this schema: enqueued,
        woken by an event, requeued. Time-based wake-ups (sleeps, deadlines,
        stale leases) are found by the engine's poll. Returns the unsubscribe.
        """
        self._check_open("subscribe_wakeups")
        return self._connections.listener.subscribe(callback)

    # -- runs ------------------------------------------------------------------------

    @translate_errors
    def create_run(self, run: WorkflowRun) -> CreatedRun:
        """Store ``run`` as given (lease and wake cleared); idempotent on its key."""
        status = run_status(run.status)
        encoded = encode(run.input, "input")
        sql = self._sql
        return self._run("create_run", lambda c: run_sql.create(c, sql, run, status, encoded))

    @translate_errors
    def get_run(self, run_id: str) -> WorkflowRun | None:
        """Return the run without its lease, or ``None``."""
        return self._run("get_run", lambda c: run_sql.get(c, self._sql, run_id))

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
        """Claim up to ``limit`` runs in one transaction, each with its rows.

        ``prepare`` runs inside that transaction (and again if it is retried);
        it must not call the adapter.
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
        self._check_open(operation)
        names = unique_names(workflow_names)
        if not names or limit < 1:
            return []
        now, sql = self._clock.now_ms, self._sql
        return self._run(
            operation,
            lambda c: step_sql.claim_with_steps(
                c, sql, names, limit, stale_before=stale_before, now=now(), prepare=prepare
            ),
        )

    @translate_errors
    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        """Refresh ``updated_at`` if the lease is held."""
        now = self._clock.now_ms
        return self._run(
            "heartbeat_run", lambda c: run_sql.heartbeat(c, self._sql, run_id, lease_id, now())
        )

    @translate_errors
    def update_run_status(self, run_id: str, status: RunStatus) -> bool:
        """Set ``status`` (no lease check), clearing lease and wake; ``False`` if missing."""
        new, now = run_status(status), self._clock.now_ms
        return self._run(
            "update_run_status", lambda c: run_sql.set_status(c, self._sql, run_id, new, now())
        )

    @translate_errors
    def update_claimed_run_status(self, run_id: str, lease_id: str, status: RunStatus) -> bool:
        """Set ``status`` if the lease is held; the lease stays only for ``running``."""
        new, now = run_status(status), self._clock.now_ms
        return self._run(
            "update_claimed_run_status",
            lambda c: run_sql.set_claimed_status(c, self._sql, run_id, lease_id, new, now=now()),
        )

    @translate_errors
    def cancel_run(self, run_id: str) -> bool:
        """Cancel a run that is not terminal, clearing lease and wake."""
        now = self._clock.now_ms
        return self._run("cancel_run", lambda c: run_sql.cancel(c, self._sql, run_id, now()))

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
        return self._run(
            "list_runs",
            lambda c: run_sql.list_runs(
                c,
                self._sql,
                status=wanted,
                workflow=workflow,
                limit=limit,
                before=before,
                before_id=before_id,
            ),
        )

    @translate_errors
    def requeue_run(self, run_id: str) -> bool:
        """``failed``/``cancelled`` → ``pending``, dropping the run's ``failed`` rows."""
        now = self._clock.now_ms
        return self._run("requeue_run", lambda c: run_sql.requeue(c, self._sql, run_id, now()))

    # -- step rows -------------------------------------------------------------------

    @translate_errors
    def get_step_results(self, run_id: str) -> list[StepResult]:
        """Return the run's rows in creation order (``created_at``, then first write)."""
        return self._run("get_step_results", lambda c: step_sql.rows(c, self._sql, run_id))

    @translate_errors
    def save_step_result(self, result: StepResult, lease_id: str | None = None) -> bool:
        """Upsert the row for ``(run_id, name)``; fenced by ``lease_id`` when given."""
        step = step_for_save(result)
        output = encode(step.output, "output")
        now = self._clock.now_ms
        return self._run(
            "save_step_result",
            lambda c: step_sql.save(c, self._sql, step, output, lease_id=lease_id, now=now()),
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
        return self._run(
            "save_progress",
            lambda c: step_sql.save_progress(
                c, self._sql, run_id, lease_id, writes, status=new, now=now()
            ),
        )

    # -- sleeping, waiting, events ---------------------------------------------------

    @translate_errors
    def sleep_run(self, run_id: str, lease_id: str, wake_at: int) -> bool:
        """If the lease is held: ``sleeping`` until ``wake_at``, lease released."""
        now = self._clock.now_ms
        return self._run(
            "sleep_run",
            lambda c: event_sql.sleep(c, self._sql, run_id, lease_id, wake_at=wake_at, now=now()),
        )

    @translate_errors
    def wait_run(self, run_id: str, lease_id: str, event_name: str, wake_at: int | None) -> bool:
        """If the lease is held: ``pending`` if the event is buffered, else ``waiting``."""
        now = self._clock.now_ms
        return self._run(
            "wait_run",
            lambda c: event_sql.wait(
                c, self._sql, run_id, lease_id, event_name, wake_at=wake_at, now=now()
            ),
        )

    @translate_errors
    def deliver_event(self, run_id: str, event_name: str, payload: Any) -> bool:
        """Buffer an event; a ``waiting`` run becomes ``pending``. ``False`` if no such run."""
        encoded = encode(payload, "payload")
        now = self._clock.now_ms
        return self._run(
            "deliver_event",
            lambda c: event_sql.deliver(
                c, self._sql, run_id, event_name, payload=encoded, now=now()
            ),
        )

    @translate_errors
    def take_event(self, run_id: str, event_name: str) -> TakenEvent | None:
        """Remove and return the oldest buffered event of that name, or ``None``."""
        return self._run("take_event", lambda c: event_sql.take(c, self._sql, run_id, event_name))

    @translate_errors
    def consume_event(
        self,
        run_id: str,
        lease_id: str,
        event_name: str,
        rows: Callable[[Any], Sequence[StepResult]],
    ) -> TakenEvent | None:
        """If the lease is held, take the oldest event and upsert ``rows(payload)`` atomically."""
        now = self._clock.now_ms
        return self._run(
            "consume_event",
            lambda c: event_sql.consume(
                c, self._sql, run_id, lease_id, event_name, rows=rows, now=now()
            ),
        )

    # -- schedules -------------------------------------------------------------------

    @translate_errors
    def upsert_schedule(self, schedule: WorkflowSchedule) -> WorkflowSchedule:
        """Insert or update by key, keeping ``next_run_at`` if the recurrence is unchanged."""
        recurrence = recurrence_of(schedule)
        encoded = encode(schedule.input, "input")
        now = self._clock.now_ms
        return self._run(
            "upsert_schedule",
            lambda c: schedule_sql.upsert(c, self._sql, schedule, recurrence, encoded, now=now()),
        )

    @translate_errors
    def claim_due_schedule(
        self, workflow_names: Sequence[str], now: int
    ) -> WorkflowSchedule | None:
        """Claim the earliest due schedule (ties by key) and advance it past ``now``."""
        self._check_open("claim_due_schedule")
        names = unique_names(workflow_names)
        if not names:
            return None
        stamp = self._clock.now_ms
        return self._run(
            "claim_due_schedule",
            lambda c: schedule_sql.claim_due(c, self._sql, names, now, stamp()),
        )

    @translate_errors
    def delete_schedule(self, key: str) -> bool:
        """Remove a schedule; ``True`` if there was one."""
        return self._run("delete_schedule", lambda c: schedule_sql.delete(c, self._sql, key))

    @translate_errors
    def list_schedules(self) -> list[WorkflowSchedule]:
        """List every schedule, ordered by key."""
        return self._run("list_schedules", lambda c: schedule_sql.list_all(c, self._sql))
