"""Failures the driver reports: a full disk, and another process holding the write lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from reflow_actors.errors import StorageError
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun
from reflow_actors.storage import SQLiteStorage


def _run(run_id: str, value: object = None) -> WorkflowRun:
    return WorkflowRun(run_id, "wf", {} if value is None else value, None, RunStatus.PENDING, 1, 1)


def _set_max_pages(storage: SQLiteStorage, pages: int | None) -> None:
    for connection in storage._connections():
        if pages is None:
            connection.execute("PRAGMA max_page_count = 1073741823")
        else:
            current: int = connection.execute("PRAGMA page_count").fetchall()[0][0]  # type: ignore[assignment]
            connection.execute(f"PRAGMA max_page_count = {max(pages, current)}")


def test_full_disk_fails_the_write_keeps_data_and_recovers(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    storage.create_run(_run("kept", {"n": 1}))
    storage.save_step_result(StepResult("a", StepStatus.COMPLETED, 1, run_id="kept"))
    _set_max_pages(storage, 0)  # no room to grow

    with pytest.raises(StorageError) as raised:
        storage.create_run(_run("big", {"blob": "x" * 200_000}))
    assert raised.value.operation == "create_run"
    assert isinstance(raised.value.__cause__, apsw.FullError)
    with pytest.raises(StorageError):
        storage.save_step_result(
            StepResult("b", StepStatus.COMPLETED, "y" * 200_000, run_id="kept")
        )

    kept = storage.get_run("kept")
    assert kept is not None
    assert kept.input == {"n": 1}
    assert [row.name for row in storage.get_step_results("kept")] == ["a"]
    assert storage.get_run("big") is None

    _set_max_pages(storage, None)
    assert storage.create_run(_run("big", {"blob": "x" * 200_000})).created
    assert storage.save_step_result(StepResult("b", StepStatus.COMPLETED, 2, run_id="kept"))


def test_full_disk_in_a_batch_fails_only_the_writes_that_do_not_fit(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    storage.create_run(_run("seed"))
    _set_max_pages(storage, 0)
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(8, timeout=10)

    def write(index: int) -> None:
        barrier.wait()
        size = 300_000 if index % 2 else 10
        try:
            outcomes[f"r{index}"] = storage.create_run(_run(f"r{index}", {"b": "x" * size})).created
        except StorageError as error:
            outcomes[f"r{index}"] = error

    threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for index in range(1, 8, 2):
        assert isinstance(outcomes[f"r{index}"], StorageError)
        assert storage.get_run(f"r{index}") is None
    for index in range(0, 8, 2):
        outcome = outcomes[f"r{index}"]
        # a small write fits unless SQLite rolled back the whole transaction it shared
        assert outcome is True or isinstance(outcome, StorageError)
        assert (storage.get_run(f"r{index}") is not None) == (outcome is True)
    assert storage.get_run("seed") is not None


def _hold_write_lock(path: Path) -> tuple[apsw.Connection, threading.Event]:
    other = apsw.Connection(str(path))
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE workflow_runs SET updated_at = updated_at")
    return other, threading.Event()


@pytest.mark.timeout(30)
def test_a_write_waits_for_another_writer_then_succeeds(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path, busy_timeout=5.0)
    other, _ = _hold_write_lock(sqlite_path)
    finished = threading.Event()
    outcome: list[object] = []

    def write() -> None:
        try:
            outcome.append(storage.create_run(_run("r")).created)
        except BaseException as error:
            outcome.append(error)
        finished.set()

    writer = threading.Thread(target=write)
    try:
        writer.start()
        assert not finished.wait(0.3), "the write should wait while another connection writes"
        assert storage.get_run("r") is None  # readers are not blocked meanwhile
    finally:
        other.execute("COMMIT")
        other.close()
    assert finished.wait(10)
    writer.join(10)
    assert outcome == [True]
    assert storage.get_run("r") is not None


@pytest.mark.timeout(30)
def test_a_write_lock_held_too_long_becomes_storage_error(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path, busy_timeout=0.05)
    other, _ = _hold_write_lock(sqlite_path)
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="locked") as raised:
            storage.create_run(_run("r"))
        assert time.monotonic() - started < 5
        assert raised.value.operation == "create_run"
        assert isinstance(raised.value.__cause__, (apsw.BusyError, apsw.LockedError))
        with pytest.raises(StorageError):
            storage.update_run_status("r", RunStatus.CANCELLED)
        # A claim with nothing to claim does not need the write lock at all.
        assert storage.claim_next_run(["wf"]) is None
        assert storage.get_run("r") is None  # reads still work
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert storage.create_run(_run("r")).created  # and writes work again once it is released
