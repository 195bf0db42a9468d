"""``LISTEN`` on the schema's wake-up channel and call subscribers when work appears.

One daemon thread per adapter, started by the first subscriber and stopped when
the last one leaves (or the adapter closes), holds a dedicated connection
outside the pool. Notifications arriving close together are coalesced into one
call: a burst of 1,000 enqueues wakes each engine a handful of times, not
1,000. After every (re)connection the subscribers are called once as well,
because a notification sent while nobody was listening is lost; the claim
that call triggers finds whatever was committed in the gap. A dropped
connection is retried with a capped backoff for as long as someone listens;
meanwhile the engines' polls keep everything moving, only later.
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

__all__ = ["Listener"]

logger = logging.getLogger("reflow_actors.storage.postgres")

Connect = Callable[[], "psycopg.Connection[Any]"]

_WAIT = 0.25  # how long one wait for a notification lasts: the bound on stopping
_COALESCE = 0.005  # after a notification, gather what else arrives this soon
_READY = 5.0  # how long subscribe() waits for the first LISTEN to be in effect
_BACKOFF = (0.05, 2.0)


class Listener:
    """Calls subscribers (from its own thread) whenever the channel is notified."""

    def __init__(self, connect: Connect, channel: str, name: str) -> None:
        self._connect = connect
        self._channel = channel
        self._name = name
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.wakeups = 0
        """How many times subscribers were called (tests read it)."""

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Add ``callback``; return its unsubscribe function (idempotent)."""
        with self._lock:
            token = next(self._tokens)
            self._callbacks[token] = callback
            if self._thread is None:
                self._stop = threading.Event()
                self._ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._stop, self._ready), name=self._name, daemon=True
                )
                self._thread.start()
            ready = self._ready
        # Usually a few milliseconds; if the server is unreachable we go on
        # without it and the thread keeps trying.
        ready.wait(_READY)

        def unsubscribe() -> None:
            with self._lock:
                self._callbacks.pop(token, None)
                idle = not self._callbacks
            if idle:
                self._halt(only_if_idle=True)

        return unsubscribe

    def close(self) -> None:
        """Drop every subscriber and stop the thread."""
        with self._lock:
            self._callbacks.clear()
        self._halt(only_if_idle=True)

    def _halt(self, *, only_if_idle: bool) -> None:
        with self._lock:
            if only_if_idle and self._callbacks:
                return
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5 * _WAIT + 1.0)

    @property
    def listening(self) -> bool:
        """Whether a ``LISTEN`` connection is currently established."""
        return self._ready.is_set() and not self._stop.is_set()

    def _fire(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks.values())
        self.wakeups += 1
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("a wake-up subscriber raised; ignored")

    def _run(self, stop: threading.Event, ready: threading.Event) -> None:
        delay = _BACKOFF[0]
        while not stop.is_set():
            try:
                with self._connect() as connection:
                    connection.execute(f'LISTEN "{self._channel}"')
                    delay = _BACKOFF[0]
                    ready.set()
                    self._fire()
                    self._listen(connection, stop)
            except psycopg.Error as error:
                if stop.is_set():
                    break
                logger.warning(
                    "LISTEN %s failed (%s); retrying in %.2fs", self._channel, error, delay
                )
                ready.clear()
                stop.wait(delay)
                delay = min(delay * 2, _BACKOFF[1])

    def _listen(self, connection: psycopg.Connection[Any], stop: threading.Event) -> None:
        while not stop.is_set():
            # Always exhaust notifies(): an unfinished generator keeps the connection locked.
            if list(connection.notifies(timeout=_WAIT, stop_after=1)):
                list(connection.notifies(timeout=_COALESCE))
                if not stop.is_set():
                    self._fire()
