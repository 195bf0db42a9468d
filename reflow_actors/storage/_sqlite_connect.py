"""Opening our SQLite connections, beginning write transactions, and the pool of readers.

Settings are applied to each connection we open (never process-wide): WAL for
files, ``synchronous`` per durability, a busy timeout. Readers additionally set
``query_only`` so a bug can never write through them.

A read-only adapter opens its connections with ``SQLITE_OPEN_READONLY`` (and no
create flag) and changes nothing: no journal mode, no ``synchronous``. It still
reads a WAL database another process is writing, through the shared ``-shm``
index, as any WAL reader does.
"""

from __future__ import annotations

import math
import os
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import apsw
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from reflow_actors.errors import ConfigError, StorageError

__all__ = [
    "BEGIN_ATTEMPTS",
    "ConnectionSettings",
    "ReadPool",
    "begin_immediate",
    "connection_settings",
    "open_connection",
]

T = TypeVar("T")

BEGIN_ATTEMPTS = 3
"""How many times a write waits ``busy_timeout`` for the lock before giving up."""

_LOCKED = (apsw.BusyError, apsw.LockedError)
_READ_WRITE = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE  # APSW's default
_READ_ONLY = apsw.SQLITE_OPEN_READONLY  # never creates the file
_STATEMENT_CACHE = 256  # our SQL is a fixed set of strings; keep every one prepared
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the database is and how each connection to it is configured."""

    path: str
    synchronous: str  # "FULL" or "NORMAL", validated by SQLiteStorage
    busy_timeout_ms: int
    read_only: bool = False

    @property
    def in_memory(self) -> bool:
        """``True`` for ``":memory:"``: one private database per connection."""
        return self.path in (":memory:", "")


def connection_settings(
    path: str, durability: str, busy_timeout: float, *, read_only: bool
) -> ConnectionSettings:
    """Validate ``SQLiteStorage``'s options into settings; a bad one is a ``ConfigError``."""
    if durability not in _SYNCHRONOUS:
        raise ConfigError(f'durability must be "full" or "normal"; got {durability!r}')
    if (
        isinstance(busy_timeout, bool)
        or not isinstance(busy_timeout, (int, float))
        or not math.isfinite(busy_timeout)
        or busy_timeout <= 0
    ):
        raise ConfigError(
            f"busy_timeout must be a positive number of seconds; got {busy_timeout!r}"
        )
    settings = ConnectionSettings(
        path, _SYNCHRONOUS[durability], max(1, round(busy_timeout * 1000)), read_only
    )
    if read_only and settings.in_memory:
        raise ConfigError("read_only needs a database file; an in-memory one starts empty")
    return settings


def open_connection(
    settings: ConnectionSettings, operation: str, *, reader: bool
) -> apsw.Connection:
    """Open and configure one connection; failures become a ``StorageError`` for ``operation``."""
    if settings.read_only:
        return _open_read_only(settings, operation)
    connection = _connect(settings, operation, settings.path, _READ_WRITE)
    try:
        _configure(connection, settings, operation, reader=reader)
    except BaseException as error:
        connection.close()
        if isinstance(error, apsw.Error):
            raise _open_error(settings, operation, error) from error
        raise
    return connection


def _connect(
    settings: ConnectionSettings, operation: str, name: str, flags: int
) -> apsw.Connection:
    try:
        return apsw.Connection(name, flags=flags, statementcachesize=_STATEMENT_CACHE)
    except apsw.Error as error:
        raise _open_error(settings, operation, error) from error


def _open_read_only(settings: ConnectionSettings, operation: str) -> apsw.Connection:
    """A read-only connection; in a directory we cannot write, an immutable one if that is safe.

    Reading a WAL database needs its ``-shm`` index, which SQLite creates if it
    is missing. Where it cannot (read-only media, a locked-down backup folder)
    and neither ``-wal`` nor ``-shm`` exists, no writer can be active either,
    so the file is opened ``immutable``.
    """
    try:
        return _read_only_connection(settings, operation, settings.path, _READ_ONLY)
    except apsw.CantOpenError as error:
        if any(os.path.exists(settings.path + end) for end in ("-wal", "-shm")):  # noqa: PTH110
            raise _open_error(settings, operation, error) from error
    uri = "file:" + urllib.parse.quote(os.path.abspath(settings.path)) + "?immutable=1"  # noqa: PTH100
    return _read_only_connection(settings, operation, uri, _READ_ONLY | apsw.SQLITE_OPEN_URI)


def _read_only_connection(
    settings: ConnectionSettings, operation: str, name: str, flags: int
) -> apsw.Connection:
    connection = _connect(settings, operation, name, flags)
    try:
        connection.set_busy_timeout(settings.busy_timeout_ms)
        connection.execute("PRAGMA query_only=ON")  # a per-connection setting, not a write
        connection.execute("PRAGMA user_version").fetchall()  # opens the WAL index, if any
    except BaseException:
        connection.close()
        raise
    return connection


def _configure(
    connection: apsw.Connection, settings: ConnectionSettings, operation: str, *, reader: bool
) -> None:
    connection.set_busy_timeout(settings.busy_timeout_ms)
    if not settings.in_memory:
        if connection.readonly("main"):
            raise StorageError(operation, f"{settings.path!r} is read-only; {_WRITABLE}")
        mode = _switch_to_wal(connection)
        if str(mode).lower() != "wal":
            raise StorageError(operation, f"could not switch {settings.path!r} to WAL (got {mode})")
    # Constant strings only: PRAGMA takes no bindings, and "FULL"/"NORMAL" were validated.
    if settings.synchronous == "FULL":
        connection.execute("PRAGMA synchronous=FULL")
    else:
        connection.execute("PRAGMA synchronous=NORMAL")
    if reader:
        connection.execute("PRAGMA query_only=ON")


def _switch_to_wal(connection: apsw.Connection) -> object:
    # Switching a new file to WAL needs a lock SQLite will not wait for (no busy
    # handler): several processes opening one fresh file retry a few times.
    for attempt in Retrying(
        stop=stop_after_attempt(20),
        wait=wait_random_exponential(multiplier=0.005, max=0.25),
        retry=retry_if_exception_type((apsw.BusyError, apsw.LockedError)),
        reraise=True,
    ):
        with attempt:
            return connection.execute("PRAGMA journal_mode=WAL").fetchall()[0][0]
    raise AssertionError("unreachable: Retrying either returns or reraises")  # pragma: no cover


_WRITABLE = "reflow-actors needs to write the file and create its -wal and -shm files next to it"


def _open_error(settings: ConnectionSettings, operation: str, error: apsw.Error) -> StorageError:
    if settings.read_only and isinstance(error, apsw.CantOpenError):
        if not os.path.exists(settings.path):  # noqa: PTH110 - the path as given, a str
            return StorageError(operation, f"no database at {settings.path!r} ({error})")
        return StorageError(operation, f"cannot open {settings.path!r} read-only ({error})")
    if isinstance(error, (apsw.CantOpenError, apsw.ReadOnlyError, apsw.PermissionsError)):
        return StorageError(operation, f"cannot open {settings.path!r} ({error}); {_WRITABLE}")
    return StorageError(operation, f"cannot open {settings.path!r}: {error}")


def begin_immediate(connection: apsw.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting out another writer within a bound.

    Each attempt already waits up to the connection's busy timeout; a few
    retries with jittered backoff ride out a writer in another process that
    holds the lock a little longer, and then the ``BusyError`` is raised.
    """
    try:
        connection.execute("BEGIN IMMEDIATE")
    except _LOCKED:
        retrying = Retrying(
            stop=stop_after_attempt(BEGIN_ATTEMPTS - 1),
            wait=wait_random_exponential(multiplier=0.02, max=0.5),
            retry=retry_if_exception_type(_LOCKED),
            reraise=True,
        )
        retrying(connection.execute, "BEGIN IMMEDIATE")


class ReadPool:
    """A few reader connections shared by all threads (WAL snapshot reads).

    Each read borrows a connection for one call and returns it, so connections
    are never shared mid-statement and their number stays bounded.
    """

    def __init__(self, opener: Callable[[str], apsw.Connection], size: int) -> None:
        self._opener = opener
        self._size = size
        self._condition = threading.Condition()
        self._idle: list[apsw.Connection] = []
        self._live: list[apsw.Connection] = []
        self._closed = False

    def run(self, operation: str, read: Callable[[apsw.Connection], T]) -> T:
        """Call ``read`` with a borrowed connection."""
        connection = self._borrow(operation)
        try:
            return read(connection)
        finally:
            self._give_back(connection)

    def _borrow(self, operation: str) -> apsw.Connection:
        with self._condition:
            while True:
                if self._closed:
                    raise StorageError(operation, "storage is closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._live) < self._size:
                    break
                self._condition.wait()
            connection = self._opener(operation)
            self._live.append(connection)
            return connection

    def _give_back(self, connection: apsw.Connection) -> None:
        with self._condition:
            if self._closed:
                self._live.remove(connection)
                connection.close()
            else:
                self._idle.append(connection)
            self._condition.notify()

    def connections(self) -> list[apsw.Connection]:
        """Every open reader connection (for tests that inspect their settings)."""
        with self._condition:
            return list(self._live)

    def close(self) -> None:
        """Close idle readers now and borrowed ones when they come back."""
        with self._condition:
            self._closed = True
            for connection in self._idle:
                self._live.remove(connection)
                connection.close()
            self._idle.clear()
            self._condition.notify_all()
