"""The actor system of one engine: built on first use, torn down by ``stop()``.

It owns the timer thread, the StepActor pool, the Dispatcher and the
Heartbeat, and knows every thread they started, so that after ``stop()`` no
thread of the engine is left alive (except a handler thread that ignored its
abort signal, which Python cannot kill).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import pykka

from ._base import logger, tell_quietly
from ._messages import StopRuns, Wake
from ._runtime import Options, Runtime
from ._threads import ActorThreads
from ._timers import Timers
from .dispatcher import Dispatcher, StartPolling, TickAndWait
from .heartbeat import Heartbeat
from .step_actor import StepPool

if TYPE_CHECKING:
    from .._operations import Operations
    from ..clock import Clock
    from ..storage.base import StorageAdapter
    from ..workflow import Workflow
    from .event_bus import EventBus

__all__ = ["ActorSystem"]


class ActorSystem:
    """Timers, pool, Dispatcher and Heartbeat for one engine."""

    def __init__(
        self,
        *,
        storage: StorageAdapter,
        clock: Clock,
        workflows: dict[str, Workflow[Any, Any]],
        options: Options,
        bus: EventBus,
        operations: Operations,
    ) -> None:
        threads = ActorThreads()
        self.threads = threads
        self.timers = Timers(clock)
        self.pool = StepPool(threads)
        bus.pool = self.pool
        self.bus = bus
        self.runtime = Runtime(
            storage=storage,
            clock=clock,
            workflows=workflows,
            options=options,
            timers=self.timers,
            pool=self.pool,
            bus=bus,
            threads=threads,
        )
        self.dispatcher = Dispatcher.start(self.runtime, operations)
        self.runtime.dispatcher = self.dispatcher
        self.heartbeat = Heartbeat.start(self.runtime)
        self.polling = False
        self._unsubscribe: Callable[[], None] | None = None

    def start_polling(self, interval: float) -> None:
        """Fill slots continuously and poll storage every ``interval`` seconds.

        An adapter that can push wake-ups (``subscribe_wakeups``) wakes the
        Dispatcher as soon as another process enqueues work.
        """
        self.polling = True
        self.dispatcher.tell(StartPolling(interval))
        subscribe = getattr(self.runtime.storage, "subscribe_wakeups", None)
        if callable(subscribe):
            dispatcher = self.dispatcher
            self._unsubscribe = cast(
                "Callable[[], None]", subscribe(lambda: tell_quietly(dispatcher, Wake()))
            )

    def tick(self) -> int:
        """Claim up to the free slots and wait for those runs to finish or suspend."""
        reply: pykka.Future[int] = pykka.ThreadingFuture()
        self.dispatcher.tell(TickAndWait(reply))
        return int(reply.get())

    def shutdown(self, timeout: float | None) -> list[str]:
        """Interrupt every run, stop every actor and thread; names of threads left alive."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        reply: pykka.Future[None] = pykka.ThreadingFuture()
        try:
            self.dispatcher.tell(StopRuns(reply))
            reply.get(timeout=remaining())
        except (pykka.Timeout, pykka.ActorDeadError):
            logger.warning("engine stop: runs still running after the timeout were left behind")
        for ref in (self.heartbeat, self.dispatcher):
            try:
                ref.stop(block=True, timeout=remaining())
            except (pykka.Timeout, pykka.ActorDeadError):
                logger.warning("engine stop: %s did not stop in time", ref)
        self.bus.end_streams()
        self.pool.close()
        self.bus.pool = None
        self.timers.close(remaining())
        # A handler that ignored its abort signal cannot be killed; its thread is
        # a daemon and ends with the handler. Everything else is joined.
        self.threads.close()
        alive = self.threads.join(remaining(), skip=self.pool.abandoned_threads())
        return [thread.name for thread in alive]
