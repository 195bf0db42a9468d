"""The base every engine actor builds on: failure containment and readable threads.

pykka stops an actor whose ``tell`` handler raises (and tells nobody), and a
``BaseException`` escaping any handler stops *every* actor in the process,
the host application's included. So no exception leaves :meth:`on_receive`:
a failure is handed to :meth:`BaseActor.contain`, which each actor overrides
to report to its parent. An ``ask`` still gets its exception back, as pykka
intends, because the inbox remembers whether the message in hand was asked.

Threads are named after what they run (``RunSupervisor[<run id>]``) so a hung
test's thread dump reads like the actor tree.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import pykka

if TYPE_CHECKING:
    from pykka._envelope import Envelope

    from ._threads import ActorThreads

__all__ = ["BaseActor", "EscapedError", "logger", "tell_quietly"]

logger = logging.getLogger("reflow_actors")


class _Inbox:
    """A ``SimpleQueue`` inbox that remembers the envelope being handled."""

    __slots__ = ("_queue", "current")

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Envelope[Any]] = queue.SimpleQueue()
        self.current: Envelope[Any] | None = None

    def put(self, envelope: Envelope[Any], /) -> None:
        self._queue.put(envelope)

    def get(self) -> Envelope[Any]:
        envelope = self._queue.get()
        self.current = envelope
        return envelope

    def empty(self) -> bool:
        return self._queue.empty()


def tell_quietly(ref: pykka.ActorRef[Any], message: Any) -> bool:
    """Tell ``ref`` a message; ``False`` (not an exception) if the actor is gone."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True


class EscapedError(RuntimeError):
    """Carries a ``BaseException`` (``KeyboardInterrupt``, ...) raised by user code to an asker."""


class BaseActor(pykka.ThreadingActor):
    """A pykka actor that never lets an exception escape a handler."""

    # Daemon threads: a host that exits without stopping the engine must not hang
    # on our threads; an interrupted run is reclaimed from its lease like a crash.
    use_daemon_thread: ClassVar[bool] = True

    def __init__(self, thread_name: str, threads: ActorThreads | None = None) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.threads = threads

    @staticmethod
    def _create_actor_inbox() -> _Inbox:
        # pykka's documented extension point for actor runtimes: a C-implemented
        # queue is cheaper per message, and ``current`` tells asks from tells.
        return _Inbox()

    def _start_actor_loop(self) -> None:
        if self.threads is not None:
            self.threads.run(self._actor_loop, self.thread_name)
            return
        thread = threading.Thread(target=self._actor_loop, name=self.thread_name, daemon=True)
        thread.start()

    def on_receive(self, message: Any) -> Any:
        """Dispatch to :meth:`receive`, containing every failure."""
        envelope = self.actor_inbox.current  # type: ignore[attr-defined]
        asked = envelope is not None and envelope.reply_to is not None
        try:
            return self.receive(message)
        except Exception as error:
            if asked:
                raise
            self.contain(error)
        except BaseException as error:
            if asked:
                raise EscapedError(
                    f"{type(error).__name__} raised while handling {message!r}"
                ) from error
            self.contain(error)
        return None

    def receive(self, message: Any) -> Any:
        """Handle one message; subclasses override."""
        logger.warning("%s ignored an unexpected message: %r", self.thread_name, message)
        return None

    def contain(self, error: BaseException) -> None:
        """Handle a failure that escaped :meth:`receive`; by default, log it."""
        logger.error(
            "%s failed", self.thread_name, exc_info=(type(error), error, error.__traceback__)
        )

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """Only reached if containment itself failed; log and let the actor stop."""
        logger.error(
            "%s stopped after an unhandled failure",
            self.thread_name,
            exc_info=(exception_type, exception_value, traceback),
        )
