"""One thread that turns deadlines into messages, on the engine's clock.

Actors never sleep in a handler: a retry delay, a step timeout, the next
heartbeat or poll is a callback registered here, and the callback's only job
is to ``tell`` an actor a message. Deadlines are read on the engine's
:class:`~reflow_actors.clock.Clock`, so a test that moves a virtual clock fires
every timer that became due.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable

from ..clock import Clock
from ._base import logger

__all__ = ["TimerHandle", "Timers"]


class TimerHandle:
    """A pending timer; :meth:`cancel` stops it from firing."""

    __slots__ = ("callback", "cancelled", "deadline", "kind")

    def __init__(self, deadline: float, callback: Callable[[], object], kind: str) -> None:
        self.deadline = deadline
        self.callback = callback
        self.kind = kind
        self.cancelled = False

    def cancel(self) -> None:
        """Do not fire (a no-op if it already fired)."""
        self.cancelled = True


class Timers:
    """A heap of deadlines served by one daemon thread named ``reflow-timers``."""

    def __init__(self, clock: Clock, name: str = "reflow-timers") -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._sequence = itertools.count()
        self._closed = False
        self._unsubscribe = clock.subscribe(self._wake)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        with self._condition:
            self._condition.notify()

    def call_later(
        self, delay: float, callback: Callable[[], object], kind: str = "timer"
    ) -> TimerHandle:
        """Run ``callback`` on the timer thread after ``delay`` clock seconds.

        ``kind`` labels the timer (``"delay"`` for retry backoffs) so a test
        driver can tell what the engine is waiting for.
        """
        return self.call_at(self._clock.monotonic() + max(0.0, delay), callback, kind)

    def call_at(
        self, deadline: float, callback: Callable[[], object], kind: str = "timer"
    ) -> TimerHandle:
        """Run ``callback`` once ``clock.monotonic()`` reaches ``deadline``."""
        handle = TimerHandle(deadline, callback, kind)
        with self._condition:
            if self._closed:
                handle.cancelled = True
                return handle
            heapq.heappush(self._heap, (deadline, next(self._sequence), handle))
            if self._heap[0][2] is handle:
                self._condition.notify()
        return handle

    def next_deadline(self, kind: str | None = None) -> float | None:
        """The earliest pending deadline (of ``kind``, if given) on the clock's monotonic scale."""
        with self._condition:
            pending = [
                deadline
                for deadline, _, handle in self._heap
                if not handle.cancelled and (kind is None or handle.kind == kind)
            ]
        return min(pending, default=None)

    def _due(self) -> list[TimerHandle]:
        now = self._clock.monotonic()
        due: list[TimerHandle] = []
        while self._heap and (self._heap[0][2].cancelled or self._heap[0][0] <= now):
            handle = heapq.heappop(self._heap)[2]
            if not handle.cancelled:
                due.append(handle)
        return due

    def _loop(self) -> None:
        while True:
            with self._condition:
                due = self._due()
                while not due and not self._closed:
                    delay = self._clock.real_delay(self._heap[0][0]) if self._heap else None
                    self._condition.wait(delay)
                    due = self._due()
                if self._closed:
                    return
            for handle in due:
                try:
                    handle.callback()
                except Exception:
                    logger.exception("a timer callback failed")

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread; pending timers never fire."""
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify()
        self._unsubscribe()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
