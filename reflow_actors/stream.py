"""``EventStream``: a pull-based, optionally bounded stream of lifecycle events.

``engine.stream(buffer_size=None)`` returns one. Iterate it (it is also a
context manager). With ``buffer_size=None`` the buffer is unbounded; with a
finite size the engine waits for a slow consumer once the buffer is full, and
``0`` makes every delivery a rendezvous with a consumer waiting in ``next()``.

Closing the stream (``close()``, leaving its ``with`` block) unsubscribes it
and drops what was buffered. ``engine.stop()`` ends it more gently: events
already buffered can still be read, then iteration ends.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .context import AbortSignal
    from .events import Event

__all__ = ["EventStream"]


class _Offer:
    __slots__ = ("event", "taken")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.taken = False


def check_buffer_size(buffer_size: int | None) -> int | None:
    """Validate ``buffer_size``: ``None`` (unbounded) or an int >= 0."""
    if buffer_size is None:
        return None
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 0:
        raise ConfigError(
            f"stream buffer_size must be None (unbounded) or an int >= 0; got {buffer_size!r}"
        )
    return buffer_size


class EventStream(Iterator["Event"]):
    """Lifecycle events of every run on the engine, in order per run."""

    def __init__(self, buffer_size: int | None, unsubscribe: Callable[[EventStream], None]) -> None:
        self._capacity = check_buffer_size(buffer_size)
        self._unsubscribe = unsubscribe
        self._condition = threading.Condition()
        self._buffer: deque[Event] = deque()
        self._offers: deque[_Offer] = deque()
        self._ended = False  # no more events will arrive; buffered ones may be read
        self._disposed = False  # closed by the consumer: nothing more is read

    # --- consumer side --------------------------------------------------------

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        event = self.get()
        if event is None:
            raise StopIteration
        return event

    def get(self, timeout: float | None = None) -> Event | None:
        """Wait for the next event; ``None`` once the stream has ended.

        Raises ``TimeoutError`` if ``timeout`` seconds pass with no event.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while True:
                if self._disposed:
                    return None
                if self._buffer:
                    event = self._buffer.popleft()
                    self._admit()
                    return event
                if self._offers:
                    offer = self._offers.popleft()
                    offer.taken = True
                    self._condition.notify_all()
                    return offer.event
                if self._ended:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no event arrived in time")
                self._condition.wait(remaining)

    def _admit(self) -> None:
        # A slot freed up: the longest-waiting producer's event moves into the buffer.
        if self._offers and (self._capacity is None or len(self._buffer) < self._capacity):
            offer = self._offers.popleft()
            offer.taken = True
            self._buffer.append(offer.event)
            self._condition.notify_all()

    def close(self) -> None:
        """Unsubscribe and drop buffered events; iteration ends. Idempotent."""
        with self._condition:
            if self._disposed:
                return
            self._disposed = True
            self._buffer.clear()
            self._offers.clear()
            self._condition.notify_all()
        self._unsubscribe(self)

    @property
    def closed(self) -> bool:
        """Whether the stream has ended or been closed."""
        return self._ended or self._disposed

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- producer side (the engine) ------------------------------------------

    def _end(self) -> None:
        """No more events: keep what is buffered, release waiting producers."""
        with self._condition:
            self._ended = True
            self._offers.clear()
            self._condition.notify_all()

    def _push(self, event: Event, signal: AbortSignal | None) -> None:
        """Deliver ``event``, waiting for room when bounded; raise the abort reason."""
        offer = self._offer(event, signal)
        if offer is not None:
            self._await_offer(offer, signal)

    def _offer(self, event: Event, signal: AbortSignal | None) -> _Offer | None:
        """Buffer ``event`` if there is room; else queue it and return the pending offer."""
        with self._condition:
            if self._ended or self._disposed:
                return None
            if signal is not None and signal.reason is not None:
                raise signal.reason
            if not self._offers and (self._capacity is None or len(self._buffer) < self._capacity):
                self._buffer.append(event)
                self._condition.notify_all()
                return None
            offer = _Offer(event)
            self._offers.append(offer)
            self._condition.notify_all()
            return offer

    def _await_offer(self, offer: _Offer, signal: AbortSignal | None) -> None:
        """Wait until a consumer took ``offer`` (or the stream ended); raise on abort."""
        remove = signal.add_callback(self._wake) if signal is not None else None
        try:
            with self._condition:
                while not offer.taken and not self._ended and not self._disposed:
                    if signal is not None and signal.reason is not None:
                        if offer in self._offers:
                            self._offers.remove(offer)
                        raise signal.reason
                    self._condition.wait()
        finally:
            if remove is not None:
                remove()

    def _wake(self, _reason: BaseException) -> None:
        with self._condition:
            self._condition.notify_all()
