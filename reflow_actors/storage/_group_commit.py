"""Leader/follower group commit: concurrent writers share one transaction and one fsync.

A caller submits an *operation* (a function of the write connection). If no
leader is active, the caller becomes the leader: it takes every queued
operation, opens one ``BEGIN IMMEDIATE`` transaction, runs each operation in
its own ``SAVEPOINT`` (a failing operation rolls back only itself and its
caller gets its exception), commits once, and then releases every waiter. A
waiter is released only after ``COMMIT`` returned, so a caller that gets
``True`` back knows its write is durable. Operations that queued while the
leader worked are handed to one of those waiting callers, which leads the next
batch: the first leader's own caller returns at once instead of serving others.

With ``synchronous=FULL`` that makes one fsync per batch instead of one per
write, which is what lets many runs record steps concurrently.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import apsw

from reflow_actors.errors import StorageError
from reflow_actors.storage._translate import closed_error

__all__ = ["GroupCommit"]

T = TypeVar("T")

_PENDING, _DONE, _LEAD = 0, 1, 2


class _Waiter(Generic[T]):
    """One submitted operation: its function, its outcome and the lock its caller waits on."""

    __slots__ = ("error", "lock", "operation", "result", "state", "work")

    def __init__(self, operation: str, work: Callable[[apsw.Connection], T]) -> None:
        self.operation = operation
        self.work = work
        self.state = _PENDING
        self.result: T | None = None
        self.error: BaseException | None = None
        # A plain lock held from birth: the caller blocks acquiring it until released.
        self.lock = threading.Lock()
        self.lock.acquire()

    def fail(self, error: BaseException) -> None:
        """Settle with ``error`` (replacing a result the rollback undid)."""
        self.state, self.result, self.error = _DONE, None, error

    def outcome(self) -> T:
        """Return the result or raise the error the operation settled with."""
        if self.error is not None:
            error, self.error = self.error, None  # drop the reference cycle once raised
            raise error
        return self.result  # type: ignore[return-value]  # None only when T allows it


class GroupCommit:
    """Runs write operations on one connection, batching concurrent ones per transaction.

    ``begin`` opens the write transaction (``BEGIN IMMEDIATE`` with bounded
    retries). ``connection_lock`` is held while a batch runs; a ``:memory:``
    database, whose reads must use the same connection, takes it to read.
    ``commits`` and ``operations`` count what happened, for tests and tuning.
    """

    def __init__(
        self, connection: apsw.Connection, begin: Callable[[apsw.Connection], None]
    ) -> None:
        self.connection = connection
        # Re-entrant: an operation running in the leader may read back through it.
        self.connection_lock = threading.RLock()
        self.commits = 0
        self.operations = 0
        self._begin = begin
        self._mutex = threading.Lock()
        self._idle = threading.Condition(self._mutex)
        self._queue: list[_Waiter[Any]] = []
        self._leading = False
        self._leader: int | None = None  # thread id of the leader while a batch runs
        self._closed = False

    def submit(self, operation: str, work: Callable[[apsw.Connection], T]) -> T:
        """Run ``work(connection)`` in a committed transaction and return its result.

        ``work`` may run on another caller's thread (the batch leader). A write
        it submits itself joins the running operation instead of deadlocking.
        Its exception is raised here, to its own caller only.
        """
        if self._leader == threading.get_ident():
            return work(self.connection)
        waiter = _Waiter(operation, work)
        with self._mutex:
            if self._closed:
                raise closed_error(operation)
            self._queue.append(waiter)
            lead = not self._leading
            self._leading = True
        if not lead:
            self._wait(waiter)
            if waiter.state != _LEAD:
                return waiter.outcome()
        self._lead()
        return waiter.outcome()

    def _wait(self, waiter: _Waiter[Any]) -> None:
        try:
            waiter.lock.acquire()  # released when settled, or when handed the lead
        except BaseException:
            # Interrupted (KeyboardInterrupt in the main thread): withdraw an
            # operation no batch took yet, and pass on a lead handed to us.
            with self._mutex:
                if waiter in self._queue:
                    self._queue.remove(waiter)
                    if waiter.state == _LEAD:
                        self._hand_off()
            raise

    def _lead(self) -> None:
        with self._mutex:
            batch, self._queue = self._queue, []
        try:
            with self.connection_lock:
                self._leader = threading.get_ident()
                try:
                    self._run_batch(batch)
                finally:
                    self._leader = None
        finally:
            with self._mutex:
                self._hand_off()

    def _hand_off(self) -> None:
        """Make the oldest queued caller the next leader, or stand down (mutex held)."""
        if self._queue:
            successor = self._queue[0]
            successor.state = _LEAD
            successor.lock.release()
        else:
            self._leading = False
            self._idle.notify_all()

    def _run_batch(self, batch: list[_Waiter[Any]]) -> None:
        """Run ``batch`` in as few transactions as possible; settle and release every waiter."""
        try:
            start = 0
            while start < len(batch):
                start = self._run_transaction(batch, start)
        finally:
            interrupted = self._abandon_transaction()
            for waiter in batch:
                if waiter.state != _DONE or interrupted:
                    waiter.fail(StorageError(waiter.operation, "the write was interrupted"))
                waiter.lock.release()

    def _abandon_transaction(self) -> bool:
        """Roll back a transaction an unexpected error left open; ``True`` if there was one."""
        connection = self.connection
        if not connection.in_transaction:
            return False
        # If even the rollback fails, the next BEGIN reports the broken connection.
        with contextlib.suppress(Exception):
            connection.execute("ROLLBACK")
        return True

    def _run_transaction(self, batch: list[_Waiter[Any]], start: int) -> int:
        """Run ``batch[start:]`` in one transaction; return where the next one starts.

        Normally that is the end of the batch. If an operation's failure made
        SQLite roll back the whole transaction (a full disk, an I/O error), the
        operations already run in it are failed and the rest go on in a new one.
        """
        connection = self.connection
        pending = batch[start:]
        try:
            self._begin(connection)
        except Exception as error:
            for waiter in pending:
                waiter.fail(_wrapped(waiter.operation, "could not start a write", error))
            return len(batch)
        done: list[_Waiter[Any]] = []
        single = len(pending) == 1  # no savepoint needed: the transaction is the op's own
        for index, waiter in enumerate(pending, start):
            self.operations += 1
            if single:
                self._run_alone(waiter)
                if waiter.error is not None:
                    return len(batch)  # _run_alone rolled back; nothing to commit
            elif not self._run_in_savepoint(waiter):
                for other in done:
                    other.fail(_wrapped(other.operation, "rolled back by SQLite", waiter.error))
                return index + 1
            done.append(waiter)
        try:
            connection.execute("COMMIT")
        except Exception as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            for waiter in done:
                waiter.fail(_wrapped(waiter.operation, "commit failed", error))
        else:
            self.commits += 1
        return len(batch)

    def _run_alone(self, waiter: _Waiter[Any]) -> None:
        try:
            waiter.result = waiter.work(self.connection)
            waiter.state = _DONE
        except Exception as error:
            waiter.fail(error)
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")

    def _run_in_savepoint(self, waiter: _Waiter[Any]) -> bool:
        """Run one operation of a batch; ``False`` if its failure ended the transaction."""
        connection = self.connection
        connection.execute("SAVEPOINT reflow_op")
        try:
            waiter.result = waiter.work(connection)
            waiter.state = _DONE
        except Exception as error:
            waiter.fail(error)
            if not connection.in_transaction:
                return False
            connection.execute("ROLLBACK TO reflow_op")
        connection.execute("RELEASE reflow_op")
        return True

    def close(self) -> None:
        """Refuse new operations, let those already submitted finish, close the connection."""
        with self._mutex:
            self._closed = True
            while self._leading:
                self._idle.wait()
        with self.connection_lock:
            self.connection.close()


def _wrapped(operation: str, what: str, error: BaseException | None) -> StorageError:
    """Build a fresh ``StorageError`` per waiter, all caused by the one shared driver error."""
    detail = f"{what}: {error}" if error is not None and str(error) else what
    wrapped = StorageError(operation, detail)
    wrapped.__cause__ = error
    return wrapped
