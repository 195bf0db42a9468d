"""The ``Engine`` facade: lifecycle and the public methods; it owns the actor tree.

::

    Engine ──owns──► Dispatcher ──spawns──► RunSupervisor (one per claimed run)
       │                 ▲                     ├──► StepActor (pooled): one attempt at a time
       │                 │ RunFinished         └──► ParallelBranch (one per branch)
       └──owns──► Heartbeat (renews leases; a refusal aborts the run)

The actor system is built on first use (``start()``, ``tick()``, or
``engine.dispatcher``) and torn down by ``stop()``; a later ``tick()`` or
``start()`` builds a fresh one. Every public method is thread-safe.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._actors._messages import Wake
from ._actors.event_bus import EventBus
from ._actors.system import ActorSystem
from ._config import engine_options, positive_seconds, registered_workflows
from ._operations import Operations
from .clock import Clock, SystemClock
from .errors import RunNotFoundError
from .events import Hooks
from .records import RunInfo, RunStatus, WorkflowRun, WorkflowSchedule
from .schedule import Duration
from .storage._translate import translated
from .storage.base import StorageAdapter
from .stream import EventStream, check_buffer_size
from .workflow import Workflow

if TYPE_CHECKING:
    import pykka

    from ._aio import AsyncEngine

__all__ = ["Engine", "create_engine"]

InputT = TypeVar("InputT")

DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


class Engine:
    """Runs workflows durably on a storage adapter; create it with :func:`create_engine`."""

    def __init__(
        self,
        *,
        storage: StorageAdapter,
        workflows: Sequence[Workflow[Any, Any]],
        concurrency: int = 1,
        lease_duration: Duration = 30,
        heartbeat_interval: Duration | None = None,
        hooks: Hooks | None = None,
        clock: Clock | None = None,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    ) -> None:
        options = engine_options(
            concurrency=concurrency,
            lease_duration=lease_duration,
            heartbeat_interval=heartbeat_interval,
            max_output_bytes=max_output_bytes,
        )
        registered = registered_workflows(workflows, storage, hooks)
        self._raw_storage = storage
        self._storage = translated(storage)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._workflows = registered
        self._options = options
        self._bus = EventBus(hooks)
        self._operations = Operations(self._storage, self._clock, registered)
        self._lock = threading.RLock()
        self._system: ActorSystem | None = None
        self._initialized = False
        self._finished = threading.Condition()
        self._aio: AsyncEngine | None = None
        _ENGINES.add(self)

    # --- properties -------------------------------------------------------------------

    @property
    def storage(self) -> StorageAdapter:
        """The storage adapter this engine was given."""
        return self._raw_storage

    @property
    def clock(self) -> Clock:
        """The clock every timestamp and deadline of this engine is read from."""
        return self._clock

    @property
    def workflows(self) -> dict[str, Workflow[Any, Any]]:
        """The registered workflows by name (a copy)."""
        return dict(self._workflows)

    @property
    def concurrency(self) -> int:
        """How many runs this engine executes at once."""
        return self._options.concurrency

    @property
    def running(self) -> bool:
        """Whether ``start()`` was called and ``stop()`` not since."""
        system = self._system
        return system is not None and system.polling

    @property
    def dispatcher(self) -> pykka.ActorRef[Any]:
        """The Dispatcher actor; ``tell``/``ask`` it ``reflow_actors.messages``."""
        return self._ensure_system().dispatcher

    @property
    def aio(self) -> AsyncEngine:
        """Awaitable twins of every method, for asyncio code (never block the loop)."""
        with self._lock:
            if self._aio is None:
                from ._aio import AsyncEngine  # noqa: PLC0415 - asyncio only when used

                self._aio = AsyncEngine(self)
            return self._aio

    # --- lifecycle ----------------------------------------------------------------------

    def _ensure_initialized(self) -> None:
        if self._initialized:
            return
        with self._lock:
            if not self._initialized:
                self._storage.initialize()
                self._initialized = True

    def _ensure_system(self) -> ActorSystem:
        system = self._system
        if system is not None:
            return system
        with self._lock:
            if self._system is None:
                self._ensure_initialized()
                self._system = ActorSystem(
                    storage=self._storage,
                    clock=self._clock,
                    workflows=self._workflows,
                    options=self._options,
                    bus=self._bus,
                    operations=self._operations,
                )
                self._system.runtime.on_finished = self._run_finished
            return self._system

    def start(self, poll_interval: float = 1.0) -> None:
        """Initialize storage and start executing runs; poll storage every ``poll_interval`` s.

        Runs enqueued in this process start at once; the poll covers runs
        enqueued elsewhere, due sleeps and schedules, and stale leases.
        Calling ``start()`` on a started engine does nothing.
        """
        interval = positive_seconds(poll_interval, "poll_interval")
        with self._lock:
            system = self._ensure_system()
            if not system.polling:
                system.start_polling(interval)

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, abort in-flight steps' signals, and wait for the actors to end.

        Interrupted runs stay ``running`` and any engine reclaims them once their
        lease expires. Open streams end after their buffered events. Schedules
        are kept. Idempotent; ``timeout`` bounds the wait in seconds.
        """
        with self._lock:
            system, self._system = self._system, None
            aio, self._aio = self._aio, None
        if aio is not None:
            aio.close()
        if system is not None:
            system.shutdown(timeout)
        self._bus.end_streams()

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def tick(self) -> int:
        """Claim runs up to the free slots, execute them, and return once they are decided.

        Fires due schedules first. Returns how many runs were claimed. Runs end
        completed, failed, suspended (sleeping or waiting) or interrupted.
        """
        return self._ensure_system().tick()

    def _wake(self) -> None:
        system = self._system
        if system is not None and system.polling:
            system.dispatcher.tell(Wake())

    def _run_finished(self, run_id: str) -> None:
        del run_id
        with self._finished:
            self._finished.notify_all()

    # --- runs ---------------------------------------------------------------------------

    @overload
    def enqueue(
        self,
        workflow: Workflow[InputT, Any],
        input: InputT | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> WorkflowRun: ...

    @overload
    def enqueue(
        self, workflow: str, input: Any, *, idempotency_key: str | None = None
    ) -> WorkflowRun: ...

    def enqueue(
        self,
        workflow: Workflow[Any, Any] | str,
        input: Any,
        *,
        idempotency_key: str | None = None,
    ) -> WorkflowRun:
        """Validate ``input`` and store a pending run of ``workflow``.

        ``workflow`` is a registered ``Workflow`` (the type checker then checks
        ``input`` against its schema type; a plain mapping is also accepted and
        validated at run time) or its name (unknown →
        ``WorkflowNotFoundError``). With ``idempotency_key``, the same key and
        input return the existing run and a different input raises
        ``IdempotencyConflictError``. A started engine begins the run at once.
        """
        self._ensure_initialized()
        run = self._operations.enqueue(workflow, input, idempotency_key)
        self._wake()
        return run

    def cancel(self, run_id: str) -> bool:
        """Cancel a pending, running, sleeping or waiting run; ``False`` if terminal or unknown.

        A step in flight on this engine sees its signal aborted with
        ``RunCancelledError``; no later step starts.
        """
        self._ensure_initialized()
        system = self._system
        return self._operations.cancel(run_id, system.runtime.runs if system else None)

    def get_run_status(self, run_id: str) -> RunInfo | None:
        """The run and its step results, or ``None`` if there is no such run."""
        self._ensure_initialized()
        return self._operations.status(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """Block until the run is completed, failed or cancelled, and return it.

        Works on an engine that was never started and sees runs finished by
        other processes. Raises ``TimeoutError`` after ``timeout`` seconds and
        ``RunNotFoundError`` for an unknown id.
        """
        self._ensure_initialized()
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.002
        while True:
            info = self._operations.status(run_id)
            if info is None:
                raise RunNotFoundError(run_id)
            if info.run.status.terminal:
                return info
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f'run "{run_id}" is still {info.run.status} after {timeout:g}s')
            pause = delay if remaining is None else min(delay, remaining)
            with self._finished:
                self._finished.wait(pause)
            delay = min(delay * 2, 0.2)

    def list_runs(
        self,
        *,
        status: RunStatus | str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        before: int | None = None,
        before_id: str | None = None,
    ) -> list[WorkflowRun]:
        """Runs newest first by ``(created_at, id)``; page with ``before`` + ``before_id``.

        Pass the last run's ``created_at`` and ``id`` to get the next page; it is
        exact even when runs share a ``created_at``.
        """
        self._ensure_initialized()
        return self._operations.list_runs(status, workflow, limit, before, before_id)

    def resume(self, run_id: str) -> bool:
        """Re-queue a failed or cancelled run; completed steps are kept, the failed step re-runs.

        ``False`` for other states or an unknown id; ``WorkflowNotFoundError`` if
        this engine does not register the run's workflow.
        """
        self._ensure_initialized()
        resumed = self._operations.resume(run_id)
        if resumed:
            self._wake()
        return resumed

    def send_event(self, run_id: str, name: str, payload: Any = None) -> bool:
        """Deliver event ``name`` to the run, durably and in any order relative to the wait.

        ``False`` if the run is unknown or terminal; ``ConfigError`` if its
        workflow has no such wait; ``InputValidationError`` if the payload fails
        the wait's schema (nothing is stored).
        """
        self._ensure_initialized()
        delivered = self._operations.send_event(run_id, name, payload)
        if delivered:
            self._wake()
        return delivered

    # --- schedules ------------------------------------------------------------------------

    @overload
    def schedule(
        self,
        workflow: Workflow[InputT, Any],
        input: InputT | Mapping[str, Any],
        *,
        every: Duration | None = None,
        cron: str | None = None,
        key: str | None = None,
    ) -> str: ...

    @overload
    def schedule(
        self,
        workflow: str,
        input: Any,
        *,
        every: Duration | None = None,
        cron: str | None = None,
        key: str | None = None,
    ) -> str: ...

    def schedule(
        self,
        workflow: Workflow[Any, Any] | str,
        input: Any,
        *,
        every: Duration | None = None,
        cron: str | None = None,
        key: str | None = None,
    ) -> str:
        """Register a durable recurring schedule; returns its key.

        Exactly one of ``every`` (a duration) or ``cron`` (5 fields, UTC). An
        ``every`` schedule first fires one interval from now, a ``cron`` one at
        the next matching minute. Re-registering a key updates it and keeps its
        cadence unless the recurrence changed. Each occurrence creates exactly
        one run, however many engines share the storage; missed occurrences are
        skipped, not backfilled.
        """
        self._ensure_initialized()
        return self._operations.schedule(workflow, input, every, cron, key)

    def unschedule(self, key: str) -> bool:
        """Remove a schedule for every engine; ``True`` if it existed."""
        self._ensure_initialized()
        return self._storage.delete_schedule(key)

    def list_schedules(self) -> list[WorkflowSchedule]:
        """Every schedule, ordered by key, with its ``next_run_at``."""
        self._ensure_initialized()
        return self._storage.list_schedules()

    # --- events -----------------------------------------------------------------------------

    def stream(self, buffer_size: int | None = None) -> EventStream:
        """A new stream of lifecycle events of every run (iterator and context manager).

        ``buffer_size=None`` is unbounded; a finite size makes runs wait for a
        slow consumer once it is full (``0`` hands each event over directly).
        """
        return self._bus.subscribe(check_buffer_size(buffer_size))


def create_engine(
    *,
    storage: StorageAdapter,
    workflows: Sequence[Workflow[Any, Any]] = (),
    concurrency: int = 1,
    lease_duration: Duration = 30,
    heartbeat_interval: Duration | None = None,
    hooks: Hooks | None = None,
    clock: Clock | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
) -> Engine:
    """Create an engine (not yet started) for ``workflows`` on ``storage``.

    ``concurrency`` is how many runs execute at once; ``lease_duration`` how long
    a claimed run stays owned without a heartbeat (default 30 s);
    ``heartbeat_interval`` how often leases are renewed (default a third of
    the lease, and shorter than it). ``max_output_bytes`` bounds one step's
    encoded output (default 1 MiB). ``clock`` replaces the system clock, for
    tests. Duplicate workflow names raise ``DuplicateWorkflowError``; bad
    options ``ConfigError``.
    """
    return Engine(
        storage=storage,
        workflows=workflows,
        concurrency=concurrency,
        lease_duration=lease_duration,
        heartbeat_interval=heartbeat_interval,
        hooks=hooks,
        clock=clock,
        max_output_bytes=max_output_bytes,
    )


@atexit.register
def _stop_engines_at_exit() -> None:
    # Actor threads are daemons; stop started engines so in-flight runs are left
    # cleanly reclaimable rather than cut mid-write at interpreter exit.
    for engine in list(_ENGINES):
        try:
            engine.stop(timeout=5)
        except Exception:  # noqa: S112 - best effort at exit
            continue
