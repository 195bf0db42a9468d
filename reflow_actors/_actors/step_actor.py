"""StepActor: runs one handler attempt (or hook) at a time, from a shared pool.

A sync handler runs on the StepActor's own thread; an ``async def`` handler
runs on an event loop the StepActor owns, and is cancelled when its signal
aborts. Whatever the handler raises, ``BaseException`` included, becomes an
:class:`Executed` message to the requester: user code can never stop an actor.

StepActors are long-lived and pooled, because a thread per step is not
affordable at thousands of steps per second. One whose handler overran its
timeout is simply busy until the handler returns; its late result is ignored
by the requester (the token no longer matches) and it rejoins the pool.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pykka

from ..context import AbortSignal, _CompleteRun
from ._base import BaseActor, logger, tell_quietly
from ._messages import Executed
from ._threads import ActorThreads

__all__ = ["StepActor", "StepPool"]


class _Job:
    __slots__ = ("job", "label", "reply_to", "token")

    def __init__(
        self,
        token: int,
        job: Callable[[StepActor], Any],
        reply_to: pykka.ActorRef[Any] | None,
        label: str,
    ) -> None:
        self.token = token
        self.job = job
        self.reply_to = reply_to
        self.label = label


class StepActor(BaseActor):
    """Executes jobs sent by a RunSupervisor or ParallelBranch, one at a time."""

    def __init__(self, pool: StepPool, index: int, threads: ActorThreads) -> None:
        super().__init__(f"StepActor-{index}", threads)
        self._pool = pool
        self._idle_name = f"StepActor-{index}"
        self._loop: asyncio.AbstractEventLoop | None = None

    def receive(self, message: Any) -> Any:
        """Run a :class:`_Job` and report how it ended."""
        if not isinstance(message, _Job):
            return super().receive(message)
        thread = threading.current_thread()
        thread.name = f"StepActor[{message.label}]"
        self._pool.started(message.token, thread)
        try:
            outcome = Executed(message.token, "ok", message.job(self))
        except _CompleteRun as early:
            outcome = Executed(message.token, "complete", early.value)
        except BaseException as error:  # user code: KeyboardInterrupt and SystemExit included
            outcome = Executed(message.token, "error", error)
        finally:
            thread.name = self._idle_name
            self._pool.ended(message.token)
        if message.reply_to is not None:
            # A requester that moved on (a timeout, a halted run) gets no late result.
            tell_quietly(message.reply_to, outcome)
        self._pool.release(cast("pykka.ActorRef[StepActor]", self.actor_ref))
        return None

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any], signal: AbortSignal | None) -> Any:
        """Run ``coroutine`` to completion on this actor's loop, cancelling it on abort."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.new_event_loop()
        task = loop.create_task(coroutine)
        remove: Callable[[], None] | None = None
        if signal is not None:

            def cancel(_reason: BaseException) -> None:
                loop.call_soon_threadsafe(task.cancel)

            remove = signal.add_callback(cancel)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            if signal is not None and signal.reason is not None:
                raise signal.reason from None
            raise
        finally:
            if remove is not None:
                remove()

    def on_stop(self) -> None:
        """Close the event loop, if one was made."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None


class StepPool:
    """Idle StepActors, started on demand and reused."""

    def __init__(self, threads: ActorThreads) -> None:
        self._lock = threading.Lock()
        self._threads = threads
        self._idle: list[pykka.ActorRef[StepActor]] = []
        self._started = 0
        self._busy = 0
        self._running: dict[int, threading.Thread] = {}
        self._abandoned: dict[int, threading.Thread] = {}
        self._detached: set[int] = set()
        self._tokens = itertools.count(1)
        self._closed = False

    def next_token(self) -> int:
        """A fresh token for matching a job's result to its request."""
        return next(self._tokens)

    def submit(
        self,
        job: Callable[[StepActor], Any],
        *,
        label: str,
        reply_to: pykka.ActorRef[Any] | None,
        token: int = 0,
    ) -> int:
        """Run ``job`` on an idle StepActor (starting one if none is idle)."""
        token = token or next(self._tokens)
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine is stopped")
            if reply_to is None:
                self._detached.add(token)
            self._busy += 1
            ref = self._idle.pop() if self._idle else None
            if ref is None:
                self._started += 1
                ref = StepActor.start(self, self._started, self._threads)
        ref.tell(_Job(token, job, reply_to, label))
        return token

    def release(self, ref: pykka.ActorRef[StepActor]) -> None:
        """Return a StepActor to the pool (or stop it if the pool is closed)."""
        with self._lock:
            self._busy -= 1
            if not self._closed:
                self._idle.append(ref)
                return
        ref.stop(block=False)

    def started(self, token: int, thread: threading.Thread) -> None:
        """A StepActor began the job ``token`` on ``thread``."""
        with self._lock:
            self._running[token] = thread
            if token in self._detached:
                # Nobody waits for a detached job (on_error): stop() must not either.
                self._abandoned[token] = thread

    def ended(self, token: int) -> None:
        """The job ``token`` returned (on time or late)."""
        with self._lock:
            self._running.pop(token, None)
            self._abandoned.pop(token, None)
            self._detached.discard(token)

    def abandon(self, token: int) -> None:
        """Nobody waits for job ``token`` any more (it timed out or its run was aborted)."""
        with self._lock:
            thread = self._running.get(token)
            if thread is not None:
                self._abandoned[token] = thread

    def abandoned_threads(self) -> list[threading.Thread]:
        """Threads running a handler nobody waits for; ``stop()`` does not join them."""
        with self._lock:
            return list(self._abandoned.values())

    @property
    def busy(self) -> int:
        """How many jobs are executing right now."""
        return self._busy

    def close(self) -> None:
        """Stop idle actors now; busy ones stop as soon as their job ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for ref in idle:
            try:
                ref.stop(block=False)
            except pykka.ActorDeadError:
                logger.debug("a pooled StepActor was already stopped")
