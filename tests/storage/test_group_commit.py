"""Group commit: batching, per-operation isolation, failed commits, and heavy concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

from reflow_actors.errors import StorageError
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun
from reflow_actors.storage import SQLiteStorage
from reflow_actors.storage._group_commit import GroupCommit
from reflow_actors.storage._sqlite_connect import begin_immediate


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


@pytest.fixture
def committer(tmp_path: Path) -> Iterator[GroupCommit]:
    connection = apsw.Connection(str(tmp_path / "gc.db"))
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT)")
    group = GroupCommit(connection, begin_immediate)
    yield group
    group.close()


def _count(group: GroupCommit) -> int:
    with group.connection_lock:
        count: Any = group.connection.execute("SELECT count(*) FROM items").fetchall()[0][0]
        return int(count)


class Batch:
    """Hold the leader inside a first operation while others queue behind it."""

    def __init__(self, group: GroupCommit) -> None:
        self.group = group
        self.inside = threading.Event()
        self.release = threading.Event()
        self.results: dict[int, Any] = {}
        self.threads: list[threading.Thread] = []
        self._start(-1, self._gate)

    def _gate(self, connection: apsw.Connection) -> str:
        self.inside.set()
        self.release.wait(10)
        return "gate"

    def _start(self, key: int, work: Callable[[apsw.Connection], Any]) -> None:
        def submit() -> None:
            try:
                self.results[key] = self.group.submit(f"op{key}", work)
            except BaseException as error:
                self.results[key] = error

        thread = threading.Thread(target=submit)
        self.threads.append(thread)
        thread.start()
        if key == -1:
            assert self.inside.wait(10)

    def queue(self, work: Callable[[apsw.Connection], Any]) -> None:
        queued = len(self.threads)
        self._start(queued - 1, work)
        _wait_for(lambda: len(self.group._queue) == queued, "the operation to queue")

    def run(self) -> dict[int, Any]:
        self.release.set()
        for thread in self.threads:
            thread.join(10)
        return self.results


def _insert(key: int) -> Callable[[apsw.Connection], int]:
    def work(connection: apsw.Connection) -> int:
        connection.execute("INSERT INTO items (id, value) VALUES (?, ?)", (key, f"v{key}"))
        return key

    return work


def test_queued_operations_share_one_commit(committer: GroupCommit) -> None:
    batch = Batch(committer)
    for key in range(20):
        batch.queue(_insert(key))
    results = batch.run()
    assert results == {-1: "gate", **{key: key for key in range(20)}}
    assert committer.commits == 2  # the gate's own batch, then all twenty at once
    assert committer.operations == 21
    assert _count(committer) == 20


def test_a_failing_operation_rolls_back_only_itself(committer: GroupCommit) -> None:
    def half_then_fail(connection: apsw.Connection) -> None:
        connection.execute("INSERT INTO items (id, value) VALUES (100, 'half')")
        raise ValueError("handler bug")

    batch = Batch(committer)
    batch.queue(_insert(1))
    batch.queue(half_then_fail)
    batch.queue(_insert(1))  # duplicate key: a constraint error for this caller only
    batch.queue(_insert(2))
    results = batch.run()
    assert results[0] == 1
    assert results[3] == 2
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], apsw.ConstraintError)
    with committer.connection_lock:
        rows = committer.connection.execute("SELECT id FROM items ORDER BY id").fetchall()
    assert rows == [(1,), (2,)]


def test_a_failed_commit_fails_every_operation_of_its_batch(committer: GroupCommit) -> None:
    commits = []

    def hook() -> bool:
        commits.append(1)
        return len(commits) == 2  # veto the second commit: SQLite turns it into a rollback

    committer.connection.set_commit_hook(hook)
    batch = Batch(committer)
    for key in range(5):
        batch.queue(_insert(key))
    results = batch.run()
    assert results[-1] == "gate"
    for key in range(5):
        error = results[key]
        assert isinstance(error, StorageError), error
        assert error.operation == f"op{key}"
        assert "commit failed" in str(error)
        assert isinstance(error.__cause__, apsw.Error)
    assert _count(committer) == 0
    assert committer.submit("after", _insert(9)) == 9  # the connection still works
    assert _count(committer) == 1


def test_an_operation_that_loses_the_transaction_fails_its_batch_mates(
    committer: GroupCommit,
) -> None:
    def lose_transaction(connection: apsw.Connection) -> None:
        connection.execute("ROLLBACK")  # what SQLite does itself on some I/O errors
        raise apsw.IOError("disk I/O error")

    batch = Batch(committer)
    batch.queue(_insert(1))
    batch.queue(lose_transaction)
    batch.queue(_insert(2))
    results = batch.run()
    assert isinstance(results[0], StorageError)
    assert "rolled back" in str(results[0])
    assert isinstance(results[1], apsw.IOError)
    assert results[2] == 2  # ran in a fresh transaction after the lost one
    with committer.connection_lock:
        rows = committer.connection.execute("SELECT id FROM items").fetchall()
    assert rows == [(2,)]


def test_close_lets_submitted_operations_finish(committer: GroupCommit) -> None:
    batch = Batch(committer)
    batch.queue(_insert(1))
    closer = threading.Thread(target=committer.close)
    closer.start()
    _wait_for(lambda: committer._closed, "close to start")
    with pytest.raises(StorageError, match="storage is closed"):
        committer.submit("late", _insert(2))
    results = batch.run()
    closer.join(10)
    assert results[0] == 1


@pytest.mark.timeout(60)
def test_sixteen_threads_of_500_writes_each_land_exactly_once(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path, durability="normal")
    threads_count, per_thread = 16, 500
    for index in range(threads_count):
        storage.create_run(WorkflowRun(f"run{index}", "wf", {}, None, RunStatus.PENDING, index, 0))
    leases = {c.run.id: c.run.lease_id for c in storage.claim_runs(["wf"], threads_count)}
    assert len(leases) == threads_count
    failures: list[str] = []
    barrier = threading.Barrier(threads_count, timeout=30)

    def work(run_id: str, lease: str) -> None:
        try:
            barrier.wait()
            for step in range(per_thread):
                if step % 50 == 49:
                    ok = storage.heartbeat_run(run_id, lease)
                elif step % 50 == 25:
                    ok = storage.deliver_event(run_id, "tick", step)
                else:
                    row = StepResult(f"s{step}", StepStatus.COMPLETED, {"n": step}, run_id=run_id)
                    ok = storage.save_step_result(row, lease)
                if not ok:
                    failures.append(f"{run_id} step {step} returned False")
        except BaseException as error:
            failures.append(f"{run_id}: {error!r}")

    workers = [threading.Thread(target=work, args=item) for item in leases.items()]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert failures == []
    expected_rows = [f"s{s}" for s in range(per_thread) if s % 50 not in (25, 49)]
    for run_id in leases:
        rows = storage.get_step_results(run_id)
        assert sorted(row.name for row in rows) == sorted(expected_rows)
        assert all(row.output == {"n": int(row.name[1:])} for row in rows)
        events = 0
        while storage.take_event(run_id, "tick") is not None:
            events += 1
        assert events == per_thread // 50
    stats = storage._stats()
    assert stats["commits"] < stats["operations"]


@pytest.mark.timeout(60)
def test_twenty_concurrent_writers_commit_in_batches(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)  # full durability: batching is what saves the fsyncs
    before = storage._stats()
    barrier = threading.Barrier(20, timeout=30)

    def write(index: int) -> None:
        barrier.wait()
        for step in range(25):
            storage.save_step_result(
                StepResult(f"s{step}", StepStatus.COMPLETED, step, run_id=f"r{index}")
            )

    workers = [threading.Thread(target=write, args=(index,)) for index in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    after = storage._stats()
    operations = after["operations"] - before["operations"]
    commits = after["commits"] - before["commits"]
    assert operations == 500
    assert commits < operations / 2, (commits, operations)
    assert all(len(storage.get_step_results(f"r{index}")) == 25 for index in range(20))


def test_a_write_submitted_from_inside_an_operation_joins_it(committer: GroupCommit) -> None:
    def outer(connection: apsw.Connection) -> int:
        connection.execute("INSERT INTO items (id, value) VALUES (1, 'outer')")
        return committer.submit("inner", _insert(2)) + 10

    assert committer.submit("outer", outer) == 12
    assert committer.commits == 1
    assert _count(committer) == 2


def test_prepare_calling_back_into_sqlite_storage_does_not_deadlock(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    storage.create_run(WorkflowRun("r", "wf", {}, None, RunStatus.PENDING, 1, 1))

    def prepare(run: WorkflowRun, rows: list[StepResult]) -> list[StepResult]:
        assert run.lease_id is not None
        assert storage.save_step_result(
            StepResult("side", StepStatus.RUNNING, run_id=run.id), run.lease_id
        )
        return []

    (claimed,) = storage.claim_runs(["wf"], 1, None, prepare)
    assert [row.name for row in storage.get_step_results("r")] == ["side"]
    assert claimed.run.id == "r"
