"""The one seam through which the engine and storage read time.

Every timestamp the engine writes (``created_at``, lease renewals, sleep
wake-ups, wait deadlines, schedule occurrences) and every in-process deadline
(step timeouts, retry delays, heartbeats, the poll) is read from a
:class:`Clock`. Production code uses :class:`SystemClock`; tests pass a
:class:`VirtualClock` to both the engine and its storage and move time by hand,
so a workflow that sleeps ``"7d"`` finishes instantly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "VirtualClock"]


@runtime_checkable
class Clock(Protocol):
    """What the engine needs from a clock."""

    def now(self) -> float:
        """Wall-clock time as epoch seconds."""
        ...

    def now_ms(self) -> int:
        """Wall-clock time as integer epoch milliseconds (what storage records)."""
        ...

    def monotonic(self) -> float:
        """A monotonic reading in seconds, for in-process deadlines."""
        ...

    def real_delay(self, deadline: float) -> float | None:
        """Real seconds to wait until ``monotonic()`` reaches ``deadline``.

        ``None`` means the deadline is reached only when someone moves the clock;
        waiters are then woken through :meth:`subscribe`.
        """
        ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever the clock jumps; returns an unsubscribe function."""
        ...


class SystemClock:
    """The real clock: ``time.time()`` and ``time.monotonic()``."""

    def now(self) -> float:
        """Epoch seconds from ``time.time()``."""
        return time.time()

    def now_ms(self) -> int:
        """Epoch milliseconds from ``time.time()``."""
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def real_delay(self, deadline: float) -> float | None:
        """Seconds until ``deadline`` on the monotonic clock (never negative)."""
        return max(0.0, deadline - time.monotonic())

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """The system clock never jumps under the engine's feet; nothing to call."""
        del callback
        return _noop


def _noop() -> None:
    return None


def _epoch(value: datetime | float | None) -> float:
    if value is None:
        return time.time()
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.timestamp()
    return float(value)


class VirtualClock:
    """A clock tests move by hand.

    ``VirtualClock(start)`` starts at ``start`` (a datetime, naive meaning UTC, or
    epoch seconds; default now). With ``frozen=True`` (the default) time stands
    still until :meth:`advance` or :meth:`set` moves it. With ``frozen=False``
    it runs at real speed from ``start`` and the moves add to it, which is what
    :func:`~reflow_actors.testing.test_engine` uses: handlers and step timeouts
    see real time pass, while sleeps and retry delays are skipped over.
    """

    def __init__(self, start: datetime | float | None = None, *, frozen: bool = True) -> None:
        self._lock = threading.Lock()
        self._wall0 = _epoch(start)
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._frozen = frozen
        self._subscribers: list[Callable[[], None]] = []

    def _elapsed(self) -> float:
        return self._offset if self._frozen else time.monotonic() - self._mono0 + self._offset

    def now(self) -> float:
        """Virtual epoch seconds."""
        return self._wall0 + self._elapsed()

    def now_ms(self) -> int:
        """Virtual epoch milliseconds."""
        return int(self.now() * 1000)

    def monotonic(self) -> float:
        """Virtual monotonic seconds (starts near the real monotonic reading)."""
        return self._mono0 + self._elapsed()

    def now_datetime(self) -> datetime:
        """The virtual time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def real_delay(self, deadline: float) -> float | None:
        """``None`` when frozen (only a move reaches a deadline), else the real wait."""
        if self._frozen:
            return None if deadline > self.monotonic() else 0.0
        return max(0.0, deadline - self.monotonic())

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback`` to run after every move of the clock."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            msg = f"a clock only moves forward; got {seconds!r} seconds"
            raise ValueError(msg)
        with self._lock:
            self._offset += seconds
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback()

    def set(self, when: datetime | float) -> None:
        """Move the clock forward to ``when`` (a datetime or epoch seconds)."""
        self.advance(max(0.0, _epoch(when) - self.now()))
