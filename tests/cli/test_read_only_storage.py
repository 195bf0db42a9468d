"""``SQLiteStorage(path, read_only=True)``: reads, never writes, refuses what it cannot read."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

from reflow_actors import RunStatus, StepResult, StepStatus, WorkflowRun, WorkflowSchedule
from reflow_actors.errors import ConfigError, StorageError
from reflow_actors.storage import SQLiteStorage
from reflow_actors.storage._sqlite_schema import SCHEMA_VERSION
from tests.cli import flows
from tests.cli.conftest import Populated, snapshot, wait_until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def read_only(populated: Populated) -> Any:
    storage = SQLiteStorage(populated.path, read_only=True)
    storage.initialize()
    yield storage
    storage.close()


def _run() -> WorkflowRun:
    return WorkflowRun("r-new", "greet", {}, None, RunStatus.PENDING, 1, 1)


def _schedule() -> WorkflowSchedule:
    return WorkflowSchedule("s", "greet", {}, 60.0, None, 1)


WRITES: dict[str, Callable[[SQLiteStorage], Any]] = {
    "create_run": lambda s: s.create_run(_run()),
    "claim_next_run": lambda s: s.claim_next_run(["greet"]),
    "claim_runs": lambda s: s.claim_runs(["greet"], 3),
    "heartbeat_run": lambda s: s.heartbeat_run("r", "lease"),
    "update_run_status": lambda s: s.update_run_status("r", RunStatus.CANCELLED),
    "update_claimed_run_status": lambda s: s.update_claimed_run_status(
        "r", "lease", RunStatus.COMPLETED
    ),
    "cancel_run": lambda s: s.cancel_run("r"),
    "requeue_run": lambda s: s.requeue_run("r"),
    "save_step_result": lambda s: s.save_step_result(
        StepResult("a", StepStatus.COMPLETED, run_id="r")
    ),
    "save_progress": lambda s: s.save_progress("r", "lease", []),
    "sleep_run": lambda s: s.sleep_run("r", "lease", 5),
    "wait_run": lambda s: s.wait_run("r", "lease", "e", None),
    "deliver_event": lambda s: s.deliver_event("r", "e", {"x": 1}),
    "take_event": lambda s: s.take_event("r", "e"),
    "consume_event": lambda s: s.consume_event("r", "lease", "e", lambda payload: []),
    "upsert_schedule": lambda s: s.upsert_schedule(_schedule()),
    "claim_due_schedule": lambda s: s.claim_due_schedule(["greet"], 10),
    "delete_schedule": lambda s: s.delete_schedule("weekly"),
}


def test_reads_see_what_was_written(read_only: SQLiteStorage, populated: Populated) -> None:
    runs = read_only.list_runs()
    assert {run.id for run in runs} == {
        populated.completed,
        populated.failed,
        populated.waiting,
        populated.pending,
    }
    run = read_only.get_run(populated.completed)
    assert run is not None
    assert run.status is RunStatus.COMPLETED
    assert run.idempotency_key == "k-1"
    steps = read_only.get_step_results(populated.completed)
    assert [(s.name, s.output) for s in steps] == [
        ("hello", {"greeting": "hello ada"}),
        ("shout", {"loud": "HELLO ADA"}),
    ]
    assert [s.key for s in read_only.list_schedules()] == ["often", "weekly"]
    assert read_only.read_only
    assert "read_only=True" in repr(read_only)


@pytest.mark.parametrize("method", sorted(WRITES))
def test_every_write_is_refused(
    method: str, read_only: SQLiteStorage, populated: Populated
) -> None:
    before = snapshot(populated.path)
    with pytest.raises(StorageError, match="storage is read-only") as raised:
        WRITES[method](read_only)
    assert raised.value.operation == method
    assert snapshot(populated.path) == before


def test_connections_are_opened_read_only(read_only: SQLiteStorage) -> None:
    read_only.list_runs()
    connections = read_only._connections()
    assert connections
    for connection in connections:
        assert connection.readonly("main")
        with pytest.raises(apsw.ReadOnlyError):
            connection.execute("DELETE FROM workflow_runs")


def test_reading_changes_nothing_in_the_file(populated: Populated) -> None:
    before = snapshot(populated.path)
    storage = SQLiteStorage(populated.path, read_only=True)
    storage.initialize()
    storage.list_runs()
    storage.get_step_results(populated.completed)
    storage.list_schedules()
    storage.close()
    assert snapshot(populated.path) == before
    wal = populated.path.with_name(populated.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_missing_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    storage = SQLiteStorage(path, read_only=True)
    with pytest.raises(StorageError, match="no database at") as raised:
        storage.initialize()
    assert raised.value.operation == "initialize"
    storage.close()
    assert list(tmp_path.iterdir()) == []


def test_in_memory_cannot_be_read_only() -> None:
    with pytest.raises(ConfigError, match="needs a database file"):
        SQLiteStorage(":memory:", read_only=True)


def _raw(path: Path, *statements: str) -> None:
    connection = apsw.Connection(str(path))
    for statement in statements:
        connection.execute(statement)
    connection.close()


def _check(path: Path) -> None:
    storage = SQLiteStorage(path, read_only=True)
    try:
        storage.initialize()
    finally:
        storage.close()


def test_a_newer_schema_is_refused(populated: Populated) -> None:
    _raw(populated.path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="newer than"):
        _check(populated.path)


@pytest.mark.parametrize(
    "statements",
    [
        (),  # an empty SQLite file
        ("CREATE TABLE notes (body TEXT)",),
        ("CREATE TABLE notes (body TEXT)", f"PRAGMA user_version = {SCHEMA_VERSION}"),
    ],
    ids=["empty", "foreign", "foreign-with-our-version"],
)
def test_a_file_that_is_not_a_reflow_database_is_refused(
    tmp_path: Path, statements: tuple[str, ...]
) -> None:
    path = tmp_path / "other.db"
    path.touch()
    _raw(path, *statements)
    before = snapshot(path)
    with pytest.raises(StorageError, match="not a reflow database"):
        _check(path)
    assert snapshot(path) == before


def test_an_unmigrated_reflow_ts_database_is_refused(populated: Populated) -> None:
    _raw(populated.path, "PRAGMA user_version = 0")
    with pytest.raises(StorageError, match="not been migrated"):
        _check(populated.path)


def test_a_corrupt_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StorageError, match="not a database"):
        _check(path)


def test_closed_read_only_storage_refuses_reads(read_only: SQLiteStorage) -> None:
    read_only.close()
    read_only.close()
    with pytest.raises(StorageError, match="closed"):
        read_only.list_runs()


def test_reads_follow_a_worker_that_is_writing(
    populated: Populated, writer: Callable[[Path], Any]
) -> None:
    """A started engine writes (WAL) while a read-only adapter polls; every commit shows up."""
    engine = writer(populated.path)
    reader = SQLiteStorage(populated.path, read_only=True)
    try:
        reader.initialize()
        engine.start(poll_interval=0.05)
        before = {run.id for run in reader.list_runs(limit=100)}  # readers open and warm
        ids = [engine.enqueue(flows.greet, {"name": f"n{i}"}).id for i in range(20)]
        assert not before & set(ids)

        def all_done() -> bool:
            done = reader.list_runs(status=RunStatus.COMPLETED, workflow="greet", limit=100)
            return {run.id for run in done} >= set(ids)

        wait_until(all_done, what="the reader to see every run completed")
        for run_id in ids:
            steps = reader.get_step_results(run_id)
            assert [step.status for step in steps] == [StepStatus.COMPLETED] * 2
    finally:
        engine.stop()
        reader.close()


@pytest.fixture
def immutable_folder(tmp_path: Path) -> Any:
    """A folder made immutable with chattr (works for root too); undone at teardown."""
    folder = tmp_path / "ro"
    folder.mkdir()
    marked: list[Path] = []

    def freeze() -> None:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
        marked.append(folder)

    yield folder, freeze
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_database_in_a_folder_nobody_can_write_is_still_readable(
    populated: Populated, immutable_folder: Any
) -> None:
    folder, freeze = immutable_folder
    path = folder / "backup.db"
    shutil.copyfile(populated.path, path)
    freeze()
    storage = SQLiteStorage(path, read_only=True)
    try:
        storage.initialize()
        assert len(storage.list_runs()) == 4
    finally:
        storage.close()
    assert sorted(p.name for p in folder.iterdir()) == ["backup.db"]
