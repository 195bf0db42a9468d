"""Dispatcher: owns claiming, and spawns a RunSupervisor per claimed run.

It keeps up to ``concurrency`` runs executing. Once the engine is started it
fills free slots continuously: a finished run frees a slot and the next claim
happens at once; an in-process ``enqueue`` or event wakes it; a suspended run
due later sets a timer for its wake-up. The poll (a timer sending ``Poll``)
covers what only storage knows: runs enqueued by other processes, due
schedules and stale leases.

It also answers the public messages of ``reflow_actors.messages``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import pykka

from ..errors import EngineStoppedError
from ..messages import Cancel, Enqueue, SendEvent, Tick
from ._base import BaseActor, tell_quietly
from ._markers import claim_markers
from ._messages import RunFinished, RunSettling, StartRun, StopRuns, Wake
from ._runtime import ActiveRun
from .run_supervisor import RunSupervisor

if TYPE_CHECKING:
    from .._operations import Operations
    from ..storage.base import ClaimedRun
    from ._runtime import Runtime
    from ._timers import TimerHandle

__all__ = ["Dispatcher", "Poll", "StartPolling", "TickAndWait"]


@dataclass(frozen=True, slots=True)
class StartPolling:
    """Engine → Dispatcher: fill slots continuously and poll every ``interval`` seconds."""

    interval: float


@dataclass(frozen=True, slots=True)
class Poll:
    """Timer → Dispatcher: fire due schedules and claim what storage has."""


@dataclass(frozen=True, slots=True)
class TickAndWait:
    """Engine → Dispatcher: fire schedules, claim, and report when those runs finish."""

    reply_to: pykka.Future[int] = field(compare=False)


class _Waiter:
    __slots__ = ("claimed", "pending", "reply_to")

    def __init__(self, reply_to: pykka.Future[int], run_ids: list[str]) -> None:
        self.reply_to = reply_to
        self.claimed = len(run_ids)
        self.pending = set(run_ids)


class Dispatcher(BaseActor):
    """Claims runs and supervises their supervisors."""

    def __init__(self, runtime: Runtime, operations: Operations) -> None:
        super().__init__("Dispatcher", runtime.threads)
        self._runtime = runtime
        self._operations = operations
        self._prepare = claim_markers(runtime.workflows)
        self._continuous = False
        self._stopping = False
        self._poll_interval = 1.0
        self._poll_timer: TimerHandle | None = None
        self._waiters: list[_Waiter] = []
        self._stop_replies: list[pykka.Future[None]] = []
        self._wants_claim = False
        self._settling: set[str] = set()

    def receive(self, message: Any) -> Any:
        """Route one message; claim once the inbox is drained, if slots were freed."""
        try:
            return self._route(message)
        finally:
            # Coalesce: many runs finishing at once make one claim transaction
            # for all the freed slots, not one commit per slot.
            if self._wants_claim and self.actor_inbox.empty():
                self._wants_claim = False
                self._claim(force=False)

    def _route(self, message: Any) -> Any:
        operations = self._operations
        if isinstance(message, RunSettling):
            if self._runtime.runs.get(message.run_id) is not None:
                self._settling.add(message.run_id)
                self._fill()
        elif isinstance(message, RunFinished):
            self._finished(message)
        elif isinstance(message, Wake):
            self._fill()
        elif isinstance(message, Poll):
            self._poll()
        elif isinstance(message, TickAndWait):
            self._tick_and_wait(message.reply_to)
        elif isinstance(message, Tick):
            self._fire_schedules()
            return len(self._claim(force=True))
        elif isinstance(message, Enqueue):
            run = operations.enqueue(message.workflow, message.input, message.idempotency_key)
            self._fill()
            return run
        elif isinstance(message, Cancel):
            return operations.cancel(message.run_id, self._runtime.runs)
        elif isinstance(message, SendEvent):
            delivered = operations.send_event(message.run_id, message.name, message.payload)
            self._fill()
            return delivered
        elif isinstance(message, StartPolling):
            self._start_polling(message.interval)
        elif isinstance(message, StopRuns):
            self._stop_runs(message)
        else:
            return super().receive(message)
        return None

    def contain(self, error: BaseException) -> None:
        """A failed message (a told ``Enqueue`` with bad input, ...) goes to ``on_error``."""
        self._runtime.bus.report(error)

    # --- claiming ------------------------------------------------------------------

    def _fill(self) -> None:
        if self._continuous:
            self._wants_claim = True

    def _claim(self, *, force: bool) -> list[str]:
        runtime = self._runtime
        if self._stopping or not (self._continuous or force):
            return []
        free = runtime.options.concurrency - (len(runtime.runs) - len(self._settling))
        if free <= 0:
            return []
        stale_before = runtime.clock.now_ms() - runtime.options.lease_ms
        try:
            claimed = runtime.store.claim(runtime.workflow_names, free, stale_before, self._prepare)
        except Exception as error:
            runtime.bus.report(error)
            return []
        return [self._spawn(run) for run in claimed]

    def _spawn(self, claimed: ClaimedRun) -> str:
        runtime = self._runtime
        run = claimed.run
        assert run.lease_id is not None
        active = ActiveRun(run.id, run.lease_id, run.workflow)
        runtime.runs.add(active)
        supervisor = RunSupervisor.start(runtime, claimed, active)
        active.supervisor = supervisor
        supervisor.tell(StartRun())
        return run.id

    def _fire_schedules(self) -> None:
        runtime = self._runtime
        self._operations.fire_schedules(runtime.workflow_names, runtime.bus.report)

    def _poll(self) -> None:
        self._poll_timer = None
        if not self._continuous:
            return
        try:
            self._fire_schedules()
            self._claim(force=False)
        finally:
            self._poll_timer = self._runtime.timers.call_later(
                self._poll_interval, partial(tell_quietly, self.actor_ref, Poll())
            )

    def _tick_and_wait(self, reply_to: pykka.Future[int]) -> None:
        if self._stopping:
            reply_to.set(0)
            return
        self._fire_schedules()
        run_ids = self._claim(force=True)
        if not run_ids:
            reply_to.set(0)
            return
        self._waiters.append(_Waiter(reply_to, run_ids))

    def _start_polling(self, interval: float) -> None:
        self._poll_interval = interval
        if self._continuous or self._stopping:
            return
        self._continuous = True
        self._poll()

    # --- runs leaving ----------------------------------------------------------------

    def _finished(self, message: RunFinished) -> None:
        runtime = self._runtime
        runtime.runs.remove(message.run_id)
        self._settling.discard(message.run_id)
        runtime.notify_finished(message.run_id)
        for waiter in list(self._waiters):
            waiter.pending.discard(message.run_id)
            if not waiter.pending:
                self._waiters.remove(waiter)
                waiter.reply_to.set(waiter.claimed)
        outcome = message.outcome
        if outcome.kind == "suspended" and outcome.wake_at is not None and self._continuous:
            delay = (outcome.wake_at - runtime.clock.now_ms()) / 1000
            runtime.timers.call_later(delay, partial(tell_quietly, self.actor_ref, Wake()))
        if self._stopping and not runtime.runs:
            self._release_stop()
        self._fill()

    def _stop_runs(self, message: StopRuns) -> None:
        runtime = self._runtime
        self._stopping = True
        self._continuous = False
        if self._poll_timer is not None:
            self._poll_timer.cancel()
            self._poll_timer = None
        if message.reply_to is not None:
            self._stop_replies.append(message.reply_to)
        for run in runtime.runs.snapshot():
            run.abort(EngineStoppedError(run.run_id))
        if not runtime.runs:
            self._release_stop()

    def _release_stop(self) -> None:
        replies, self._stop_replies = self._stop_replies, []
        for reply in replies:
            reply.set(None)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.reply_to.set(waiter.claimed)
