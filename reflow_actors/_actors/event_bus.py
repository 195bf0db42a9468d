"""The event bus: lifecycle events to hooks and streams, failures to ``on_error``.

``publish`` runs on a StepActor, never on a supervisor's thread: a hook may be
slow, ``async``, or hang, and a bounded stream may make it wait for a
consumer. The supervisor waits for the delivery as an effect, so a cancel,
stop or lost lease interrupts it (the run's observer signal aborts the wait).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import threading
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import HookError, SerializationError
from ..events import Event, Hooks
from ..stream import EventStream
from ._base import logger

if TYPE_CHECKING:
    from ..context import AbortSignal
    from .step_actor import StepActor, StepPool

__all__ = ["EventBus"]


def _copy_event(event: Event) -> Event:
    """A copy each observer owns: mutating it changes nothing elsewhere."""
    output = getattr(event, "output", None)
    if output is not None:
        try:
            duplicate = codec.clone(output)
        except SerializationError:  # a model a wait's schema built: observers share it
            return event
        return dataclasses.replace(event, output=duplicate)
    error = getattr(event, "error", None)
    if error is not None:
        try:
            duplicate = copy.copy(error)
        except Exception:
            return event
        return dataclasses.replace(event, error=duplicate)
    return event


class EventBus:
    """Hooks, open streams, and the ``on_error`` channel of one engine."""

    def __init__(self, hooks: Hooks | None) -> None:
        self.hooks = hooks if hooks is not None else Hooks()
        self._lock = threading.Lock()
        self._streams: tuple[EventStream, ...] = ()
        self.pool: StepPool | None = None

    def wants(self, event_type: str) -> bool:
        """Whether anything listens for ``event_type`` (so the run must wait for it)."""
        return bool(self._streams) or self.hooks.for_type(event_type) is not None

    # --- streams --------------------------------------------------------------------

    def subscribe(self, buffer_size: int | None) -> EventStream:
        """Open a new stream of every run's events."""
        stream = EventStream(buffer_size, self._unsubscribe)
        with self._lock:
            self._streams = (*self._streams, stream)
        return stream

    def _unsubscribe(self, stream: EventStream) -> None:
        with self._lock:
            self._streams = tuple(known for known in self._streams if known is not stream)

    def end_streams(self) -> None:
        """End every open stream (buffered events stay readable) and forget them."""
        with self._lock:
            streams, self._streams = self._streams, ()
        for stream in streams:
            stream._end()

    # --- delivery ---------------------------------------------------------------------

    def publish(self, event: Event, signal: AbortSignal, worker: StepActor) -> None:
        """Deliver ``event`` to its hook, then to every stream, waiting for each.

        A hook's failure goes to ``on_error``; only an abort of ``signal``
        (the run's observer signal) ends delivery early, by raising its reason.
        """
        hook = self.hooks.for_type(event.type)
        if hook is not None:
            try:
                result = hook(_copy_event(event))
                if inspect.isawaitable(result):
                    worker.run_coroutine(_awaited(result), signal)
            except BaseException as error:  # a hook's failure never changes the run
                reason = signal.reason
                if reason is not None:
                    raise reason from None
                wrapped = HookError(f"on_{event.type} hook")
                wrapped.__cause__ = error
                self.report(wrapped)
        # Offer to every stream first, then wait: a stalled consumer holds the run
        # back, but never keeps the event from the other streams.
        pending = []
        for stream in self._streams:
            offer = stream._offer(_copy_event(event), signal)
            if offer is not None:
                pending.append((stream, offer))
        for stream, offer in pending:
            stream._await_offer(offer, signal)

    def report(self, error: BaseException) -> None:
        """Pass a background failure to ``on_error`` without waiting for it."""
        handler = self.hooks.on_error
        if handler is None:
            logger.debug("unreported background error", exc_info=error)
            return
        pool = self.pool
        if pool is None:
            _call_on_error(handler, error, None)
            return
        try:
            pool.submit(
                lambda worker: _call_on_error(handler, error, worker),
                label="on_error",
                reply_to=None,
            )
        except RuntimeError:  # the engine is stopping: deliver it here instead
            _call_on_error(handler, error, None)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _call_on_error(handler: Any, error: BaseException, worker: StepActor | None) -> None:
    try:
        result = handler(error)
        if inspect.isawaitable(result):
            if worker is not None:
                worker.run_coroutine(_awaited(result), None)
            else:
                import asyncio  # noqa: PLC0415 - only on the rare stopping path

                asyncio.run(_awaited(result))
    except Exception:
        logger.exception("the on_error hook raised")
