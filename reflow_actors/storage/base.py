"""The storage contract: the ``StorageAdapter`` Protocol and its optional fast paths.

Every method is synchronous and thread-safe. "The lease is held" means the run's
row has ``status = 'running'`` and ``lease_id`` equal to the one presented;
every lease-holding write checks that in the same transaction as the write and
reports ``False`` instead of writing when it does not hold. Timestamps are
epoch milliseconds read from the adapter's own clock.

The contract is deliberately one that a server database can implement without
changing it: a claim is "select one eligible row, lock it, update it" (SQLite's
``BEGIN IMMEDIATE``; PostgreSQL's ``SELECT ... FOR UPDATE SKIP LOCKED``), and
every other write is a single conditional statement or a short transaction.

The engine also uses optional methods when an adapter has them
(:class:`SupportsClaimBatch`, :class:`SupportsProgress`, :class:`SupportsCancel`,
:class:`SupportsConsumeEvent`, :class:`SupportsWakeups`); they fold several
Protocol calls into one transaction, or push wake-ups, and are never required.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..records import (
    CreatedRun,
    RunStatus,
    StepResult,
    TakenEvent,
    WorkflowRun,
    WorkflowSchedule,
)

__all__ = [
    "ClaimedRun",
    "StorageAdapter",
    "SupportsCancel",
    "SupportsClaimBatch",
    "SupportsConsumeEvent",
    "SupportsProgress",
    "SupportsWakeups",
]


@runtime_checkable
class StorageAdapter(Protocol):
    """Where runs, step results, buffered events and schedules live."""

    def initialize(self) -> None:
        """Create or migrate the schema. Idempotent; safe to call from several processes."""
        ...

    def create_run(self, run: WorkflowRun) -> CreatedRun:
        """Store ``run`` as given (status and timestamps included).

        If ``run.idempotency_key`` is set and a run of the same workflow already
        has that key, store nothing and return that run with ``created=False``.
        This must hold when two processes insert the same key at once.
        """
        ...

    def claim_next_run(
        self, workflow_names: Sequence[str], stale_before: int | None = None
    ) -> WorkflowRun | None:
        """Atomically claim one eligible run of ``workflow_names`` and return it leased.

        Eligible, in this order: ``pending`` runs (oldest first); ``sleeping`` or
        ``waiting`` runs whose wake time has passed; and, when ``stale_before``
        is given, ``running`` runs last touched at or before it. The claim sets
        ``running``, a fresh ``lease_id`` and ``updated_at = now``, and clears the
        wake time. No two callers, in any process, get the same claim.
        """
        ...

    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        """Refresh ``updated_at`` if the lease is held; ``False`` otherwise."""
        ...

    def get_run(self, run_id: str) -> WorkflowRun | None:
        """The run (without its lease), or ``None``."""
        ...

    def get_step_results(self, run_id: str) -> list[StepResult]:
        """Every step row of the run in creation order (``[]`` when none)."""
        ...

    def save_step_result(self, result: StepResult, lease_id: str | None = None) -> bool:
        """Insert or update the row for ``(result.run_id, result.name)``.

        With ``lease_id``, write only if the lease is held and return ``False``
        otherwise. An update keeps the row's ``id`` and ``created_at``.
        """
        ...

    def update_run_status(self, run_id: str, status: RunStatus) -> bool:
        """Set ``status`` without a lease check, clearing lease and wake time.

        ``False`` if the run does not exist.
        """
        ...

    def update_claimed_run_status(self, run_id: str, lease_id: str, status: RunStatus) -> bool:
        """Set ``status`` if the lease is held; the lease is kept only for ``running``."""
        ...

    def sleep_run(self, run_id: str, lease_id: str, wake_at: int) -> bool:
        """If the lease is held: ``sleeping`` until ``wake_at``, lease released."""
        ...

    def wait_run(self, run_id: str, lease_id: str, event_name: str, wake_at: int | None) -> bool:
        """If the lease is held: release the lease and wait for ``event_name``.

        In the same transaction: if an event of that name is already buffered
        the run becomes ``pending`` (claimable at once), else ``waiting`` with
        ``wake_at`` (``None`` waits for ever).
        """
        ...

    def deliver_event(self, run_id: str, event_name: str, payload: Any) -> bool:
        """Buffer an event for the run; a ``waiting`` run becomes ``pending``.

        ``False`` if the run does not exist. Terminal runs are the engine's
        concern, not storage's.
        """
        ...

    def take_event(self, run_id: str, event_name: str) -> TakenEvent | None:
        """Atomically remove and return the oldest buffered event of that name."""
        ...

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        before: int | None = None,
        before_id: str | None = None,
    ) -> list[WorkflowRun]:
        """Runs newest first by ``(created_at, id)``, filtered, at most ``limit``.

        ``before`` with ``before_id`` continues strictly after that position
        (exact under equal ``created_at``); ``before`` alone keeps
        ``created_at < before``.
        """
        ...

    def requeue_run(self, run_id: str) -> bool:
        """Make a ``failed`` or ``cancelled`` run ``pending`` again, dropping its failed rows."""
        ...

    def upsert_schedule(self, schedule: WorkflowSchedule) -> WorkflowSchedule:
        """Upsert by key, keeping the stored ``next_run_at`` if the recurrence is unchanged."""
        ...

    def claim_due_schedule(
        self, workflow_names: Sequence[str], now: int
    ) -> WorkflowSchedule | None:
        """Claim the earliest due schedule (ties by key) and advance it past ``now``.

        Returns the schedule with the ``next_run_at`` it was claimed for. The
        advance is conditioned on that value, so an occurrence is claimed once.
        """
        ...

    def delete_schedule(self, key: str) -> bool:
        """Remove a schedule; ``True`` if there was one."""
        ...

    def list_schedules(self) -> list[WorkflowSchedule]:
        """Every schedule, ordered by key."""
        ...

    def close(self) -> None:
        """Release connections and threads. Further calls raise ``StorageError``."""
        ...


class ClaimedRun(NamedTuple):
    """A run claimed by :meth:`SupportsClaimBatch.claim_runs` with its step rows."""

    run: WorkflowRun
    steps: list[StepResult]


Prepare = Callable[[WorkflowRun, list[StepResult]], Sequence[StepResult]]
"""Called inside a claim's transaction with the run and its rows; returns rows to upsert."""


@runtime_checkable
class SupportsClaimBatch(Protocol):
    """Optional: claim several runs, read their rows and mark attempts in one transaction."""

    def claim_runs(
        self,
        workflow_names: Sequence[str],
        limit: int,
        stale_before: int | None = None,
        prepare: Prepare | None = None,
    ) -> list[ClaimedRun]:
        """Claim up to ``limit`` runs in ``claim_next_run`` order.

        For each claimed run, ``prepare(run, rows)`` may return step rows to
        upsert in the same transaction (the engine records "attempt started"
        markers this way); the returned ``steps`` include them.
        """
        ...


@runtime_checkable
class SupportsProgress(Protocol):
    """Optional: record step rows and the run's status in one fenced transaction."""

    def save_progress(
        self,
        run_id: str,
        lease_id: str,
        steps: Sequence[StepResult],
        status: RunStatus | None = None,
    ) -> bool:
        """If the lease is held, upsert ``steps`` and (optionally) set ``status``.

        Status semantics are those of ``update_claimed_run_status``. Returns
        ``False`` and writes nothing when the lease is not held.
        """
        ...


@runtime_checkable
class SupportsCancel(Protocol):
    """Optional: cancel a run only if it is not already terminal, atomically."""

    def cancel_run(self, run_id: str) -> bool:
        """Set ``cancelled`` (clearing lease and wake) unless terminal or missing."""
        ...


@runtime_checkable
class SupportsConsumeEvent(Protocol):
    """Optional: take a buffered event and record the wait's result in one transaction.

    Without it the engine takes the event, then saves the row, and puts the
    event back if the lease was lost in between; a crash in that gap would
    lose the event. With it, the two happen atomically.
    """

    def consume_event(
        self,
        run_id: str,
        lease_id: str,
        event_name: str,
        rows: Callable[[Any], Sequence[StepResult]],
    ) -> TakenEvent | None:
        """Take the oldest buffered event of that name and record ``rows(payload)``.

        Only if the lease is held and such an event exists: then remove the
        event, upsert ``rows(payload)`` and return it. Otherwise change nothing
        and return ``None``.
        """
        ...


@runtime_checkable
class SupportsWakeups(Protocol):
    """Optional: tell engines in other processes or machines that there is work now.

    A server database can push a notification when a run is enqueued, an event
    delivered or a run requeued (PostgreSQL's ``LISTEN``/``NOTIFY``), so an idle
    engine elsewhere claims it without waiting for its poll.
    """

    def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) whenever new work may be claimable.

        Returns a function that unsubscribes.
        """
        ...
