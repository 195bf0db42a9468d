"""The connections of one ``SQLiteStorage``: a group-committing writer and a reader pool.

Opened on first use. A read-write adapter has one write connection (behind a
:class:`GroupCommit`) and, for a file, a small pool of reader connections; a
``:memory:`` database is private to its one connection, so its reads go
through the writer between batches. A read-only adapter has readers only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import apsw

from reflow_actors.storage._group_commit import GroupCommit
from reflow_actors.storage._sqlite_connect import (
    ConnectionSettings,
    ReadPool,
    begin_immediate,
    open_connection,
)
from reflow_actors.storage._sqlite_read_only import read_only_error
from reflow_actors.storage._translate import closed_error

__all__ = ["Handles"]

T = TypeVar("T")

_READERS = 4  # concurrent reads; the engine reads far less than it writes


class Handles:
    """Opens, lends and closes the adapter's connections."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._writer: GroupCommit | None = None
        self._readers: ReadPool | None = None
        self._closed = False

    def _open(self, operation: str) -> GroupCommit:
        with self._lock:
            if self._closed:
                raise closed_error(operation)
            if self._writer is None:
                connection = open_connection(self._settings, operation, reader=False)
                # Readers first: a thread that sees the writer must also see them.
                if not self._settings.in_memory:
                    self._readers = ReadPool(self._open_reader, _READERS)
                self._writer = GroupCommit(connection, begin_immediate)
            return self._writer

    def _open_read_only(self, operation: str) -> ReadPool:
        with self._lock:
            if self._closed:
                raise closed_error(operation)
            if self._readers is None:
                self._readers = ReadPool(self._open_reader, _READERS)
            return self._readers

    def _open_reader(self, operation: str) -> apsw.Connection:
        return open_connection(self._settings, operation, reader=True)

    def write(self, operation: str, work: Callable[[apsw.Connection], T]) -> T:
        """Run ``work`` in a committed (group) transaction."""
        if self._settings.read_only:
            raise read_only_error(operation)
        writer = self._writer or self._open(operation)
        return writer.submit(operation, work)

    def read(self, operation: str, read: Callable[[apsw.Connection], T]) -> T:
        """Run ``read`` on a reader connection (or between batches for ``:memory:``)."""
        if self._settings.read_only:
            return (self._readers or self._open_read_only(operation)).run(operation, read)
        writer = self._writer or self._open(operation)
        readers = self._readers
        if readers is not None:
            return readers.run(operation, read)
        with writer.connection_lock:
            if self._closed:
                raise closed_error(operation)
            return read(writer.connection)

    def check_writable(self, operation: str) -> None:
        """Raise what a write would raise now, without writing."""
        if self._closed:
            raise closed_error(operation)
        if self._settings.read_only:
            raise read_only_error(operation)

    def connections(self) -> list[apsw.Connection]:
        """Every open connection."""
        found = [self._writer.connection] if self._writer is not None else []
        return found + (self._readers.connections() if self._readers is not None else [])

    def stats(self) -> dict[str, int]:
        """Commits and operations of the writer so far."""
        writer = self._writer
        if writer is None:
            return {"commits": 0, "operations": 0}
        return {"commits": writer.commits, "operations": writer.operations}

    def close(self) -> None:
        """Let writes in flight finish, then close every connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer, readers = self._writer, self._readers
            self._writer = self._readers = None
        if readers is not None:
            readers.close()
        if writer is not None:
            writer.close()
