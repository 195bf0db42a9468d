"""What the actors of one engine share: options, storage, timers, the pool, active runs.

Actors talk by messages; this holds the things that are not conversations:
configuration, the storage handle (thread-safe by contract), the timer
service, the StepActor pool, the event bus and the table of active runs that
the Dispatcher fills, the Heartbeat reads and ``cancel`` consults.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..context import AbortSignal
from ..errors import LeaseExpiredError
from ..records import RunStatus, StepResult
from ..storage.base import ClaimedRun, Prepare, StorageAdapter
from ._base import tell_quietly
from ._messages import Interrupt
from ._threads import ActorThreads

if TYPE_CHECKING:
    import pykka

    from ..clock import Clock
    from ..workflow import Workflow
    from ._timers import Timers
    from .event_bus import EventBus
    from .step_actor import StepPool

__all__ = ["ActiveRun", "ActiveRuns", "Options", "Persistence", "Runtime"]


@dataclass(frozen=True, slots=True)
class Options:
    """Engine options, validated by ``create_engine``."""

    concurrency: int
    lease_ms: int
    heartbeat_interval: float
    max_output_bytes: int


class ActiveRun:
    """A run executing on this engine: its lease and its two abort signals.

    ``work`` is what handlers, retries and parallel groups follow; ``observer``
    is what the engine waits on while hooks and streams take an event. Cancel,
    stop and a lost lease abort both.
    """

    __slots__ = ("lease_id", "observer", "run_id", "settled", "supervisor", "work", "workflow")

    def __init__(self, run_id: str, lease_id: str, workflow: str) -> None:
        self.run_id = run_id
        self.lease_id = lease_id
        self.workflow = workflow
        self.work = AbortSignal()
        self.observer = AbortSignal()
        self.supervisor: pykka.ActorRef[Any] | None = None
        # Set once the run's final status (or its suspension) is written: the lease
        # is gone by design, so the Heartbeat must not read a refusal as a loss.
        self.settled = False

    def abort(self, reason: BaseException) -> None:
        """Abort both signals and interrupt the supervisor's program."""
        first = self.work._abort(reason)
        self.observer._abort(reason)
        if first and self.supervisor is not None:
            tell_quietly(self.supervisor, Interrupt(reason))


class ActiveRuns:
    """The runs this engine holds leases for (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, ActiveRun] = {}

    def add(self, run: ActiveRun) -> None:
        """Track ``run``."""
        with self._lock:
            self._runs[run.run_id] = run

    def remove(self, run_id: str) -> None:
        """Stop tracking the run."""
        with self._lock:
            self._runs.pop(run_id, None)

    def get(self, run_id: str) -> ActiveRun | None:
        """The active run with that id, if this engine is executing it."""
        with self._lock:
            return self._runs.get(run_id)

    def snapshot(self) -> list[ActiveRun]:
        """Every active run, at this moment."""
        with self._lock:
            return list(self._runs.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)


class Persistence:
    """The engine's writes, using an adapter's optional fast paths when it has them."""

    def __init__(self, storage: StorageAdapter) -> None:
        self.storage = storage
        self._progress = callable(getattr(storage, "save_progress", None))
        self._batch_claim = callable(getattr(storage, "claim_runs", None))
        self._cancel = callable(getattr(storage, "cancel_run", None))
        self._consume = callable(getattr(storage, "consume_event", None))

    def save(
        self,
        run_id: str,
        lease_id: str,
        rows: Sequence[StepResult],
        status: RunStatus | None = None,
    ) -> bool:
        """Write ``rows`` and optionally ``status`` under the lease; ``False`` if it is lost."""
        if self._progress:
            return bool(self.storage.save_progress(run_id, lease_id, rows, status))  # type: ignore[attr-defined]
        for row in rows:
            if not self.storage.save_step_result(row, lease_id):
                return False
        if status is not None:
            return self.storage.update_claimed_run_status(run_id, lease_id, status)
        return True

    def claim(
        self,
        workflow_names: Sequence[str],
        limit: int,
        stale_before: int | None,
        prepare: Prepare,
    ) -> list[ClaimedRun]:
        """Claim up to ``limit`` runs with their rows, marking attempts as they start."""
        if limit <= 0 or not workflow_names:
            return []
        storage = self.storage
        if self._batch_claim:
            claimed: list[ClaimedRun] = storage.claim_runs(  # type: ignore[attr-defined]
                workflow_names, limit, stale_before, prepare
            )
            return claimed
        result: list[ClaimedRun] = []
        while len(result) < limit:
            run = storage.claim_next_run(workflow_names, stale_before)
            if run is None:
                break
            assert run.lease_id is not None
            rows = storage.get_step_results(run.id)
            markers = list(prepare(run, rows))
            if markers and not self.save(run.id, run.lease_id, markers):
                continue
            if markers:
                rows = storage.get_step_results(run.id)
            result.append(ClaimedRun(run, rows))
        return result

    def consume_event(
        self,
        run_id: str,
        lease_id: str,
        event_name: str,
        rows: Callable[[Any], Sequence[StepResult]],
    ) -> tuple[bool, Any]:
        """Take the oldest buffered event and record ``rows(payload)`` under the lease.

        Returns ``(taken, payload)``. Atomic when the adapter supports it; else
        the event is put back if the lease turns out to be lost.
        """
        storage = self.storage
        if self._consume:
            taken = storage.consume_event(run_id, lease_id, event_name, rows)  # type: ignore[attr-defined]
            return (False, None) if taken is None else (True, taken.payload)
        event = storage.take_event(run_id, event_name)
        if event is None:
            return False, None
        if not self.save(run_id, lease_id, rows(event.payload)):
            storage.deliver_event(run_id, event_name, event.payload)
            raise LeaseExpiredError(run_id)
        return True, event.payload

    def cancel(self, run_id: str) -> bool:
        """Cancel a non-terminal run (atomically when the adapter can)."""
        storage = self.storage
        if self._cancel:
            return bool(storage.cancel_run(run_id))  # type: ignore[attr-defined]
        run = storage.get_run(run_id)
        if run is None or run.status.terminal:
            return False
        return storage.update_run_status(run_id, RunStatus.CANCELLED)


class Runtime:
    """Everything one engine's actors share."""

    def __init__(
        self,
        *,
        storage: StorageAdapter,
        clock: Clock,
        workflows: dict[str, Workflow[Any, Any]],
        options: Options,
        timers: Timers,
        pool: StepPool,
        bus: EventBus,
        threads: ActorThreads,
    ) -> None:
        self.storage = storage
        self.store = Persistence(storage)
        self.clock = clock
        self.workflows = workflows
        self.workflow_names = tuple(workflows)
        self.options = options
        self.timers = timers
        self.pool = pool
        self.bus = bus
        self.threads = threads
        self.runs = ActiveRuns()
        self.dispatcher: pykka.ActorRef[Any] | None = None
        self.on_finished: Callable[[str], None] | None = None

    def notify_finished(self, run_id: str) -> None:
        """Tell whoever waits on runs (``engine.wait``) that ``run_id`` left this engine."""
        listener = self.on_finished
        if listener is not None:
            listener(run_id)
