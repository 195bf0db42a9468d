"""The connections of one ``PostgresStorage``: a pool opened on first use, retries, ``LISTEN``.

Pooled connections are in autocommit mode: a single statement commits by
itself, and operations that need several statements open a transaction with
``connection.transaction()``. An operation that hits a serialization failure
or a deadlock has been rolled back entirely by the server, so it is run again,
at most five times in all, after a short random backoff.
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from reflow_actors.errors import ConfigError
from reflow_actors.storage._pg_listen import Listener
from reflow_actors.storage._translate import closed_error

__all__ = ["Connections", "check_options"]

T = TypeVar("T")
Conn = psycopg.Connection[Any]

_ATTEMPTS = 5
# Class 40 errors roll the whole transaction back, so running it again is safe.
# (psycopg makes these siblings, not subclasses, of TransactionRollback.)
_TRANSIENT = (
    psycopg.errors.TransactionRollback,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)
_APPLICATION = "reflow-actors"


def check_options(pool_size: object, connect_timeout: object) -> tuple[int, float]:
    """The validated ``pool_size`` and ``connect_timeout``, or a ``ConfigError``."""
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ConfigError(f"pool_size must be a positive int; got {pool_size!r}")
    if (
        isinstance(connect_timeout, bool)
        or not isinstance(connect_timeout, (int, float))
        or not math.isfinite(connect_timeout)
        or connect_timeout <= 0
    ):
        raise ConfigError(
            f"connect_timeout must be a positive number of seconds; got {connect_timeout!r}"
        )
    return pool_size, float(connect_timeout)


class Connections:
    """A lazily opened pool, the retry policy around it, and the wake-up listener."""

    def __init__(
        self, dsn: str, *, name: str, channel: str, pool_size: int, connect_timeout: float
    ) -> None:
        self._dsn = dsn
        self._name = name
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Conn] | None = None
        self._closed = False
        self.listener = Listener(self.connect, channel, f"reflow-pg-listen[{name}]")
        self._retrying = Retrying(
            stop=stop_after_attempt(_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.01, max=0.25),
            retry=retry_if_exception_type(_TRANSIENT),
            reraise=True,
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "connect_timeout": max(2, math.ceil(self._connect_timeout)),
            "fallback_application_name": _APPLICATION,
        }

    def connect(self) -> Conn:
        """A dedicated connection outside the pool (the ``LISTEN`` thread's)."""
        return psycopg.connect(self._dsn, **self._kwargs())

    def _open(self, operation: str) -> ConnectionPool[Conn]:
        with self._lock:
            if self._closed:
                raise closed_error(operation)
            if self._pool is None:
                pool: ConnectionPool[Conn] = ConnectionPool(
                    self._dsn,
                    min_size=min(2, self._pool_size),
                    max_size=self._pool_size,
                    kwargs=self._kwargs(),
                    open=False,
                    name=f"reflow-{self._name}",
                    timeout=max(30.0, self._connect_timeout),
                )
                try:
                    pool.open(wait=True, timeout=self._connect_timeout)
                except BaseException:
                    pool.close(timeout=0)  # stop its reconnect workers
                    raise
                self._pool = pool
            return self._pool

    def run(self, operation: str, work: Callable[[Conn], T]) -> T:
        """Run ``work`` on a pooled connection, retrying transient transaction failures."""
        pool = self._pool
        if pool is None or self._closed:
            pool = self._open(operation)
        for attempt in self._retrying.copy():
            with attempt, pool.connection() as connection:
                return work(connection)
        raise AssertionError("unreachable: Retrying reraises")  # pragma: no cover

    def close(self) -> None:
        """Stop listening and close the pool (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool, self._pool = self._pool, None
        self.listener.close()
        if pool is not None:
            pool.close(timeout=5.0)
