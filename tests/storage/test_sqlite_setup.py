"""SQLiteStorage construction and per-connection settings (WAL, synchronous, busy timeout)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from reflow_actors.errors import ConfigError, StorageError
from reflow_actors.records import RunStatus, WorkflowRun
from reflow_actors.storage import SQLiteStorage


def _pragma(connection: apsw.Connection, name: str) -> object:
    return connection.execute(f"PRAGMA {name}").fetchall()[0][0]


def _open_readers(storage: SQLiteStorage, count: int) -> None:
    """Make ``count`` reads overlap so the pool opens ``count`` reader connections."""
    barrier = threading.Barrier(count, timeout=10)

    def read() -> None:
        storage._read("test", lambda connection: barrier.wait())

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


@pytest.mark.parametrize("durability", ["fast", "FULL", "", None, 1])
def test_unknown_durability_is_a_config_error(durability: object, sqlite_path: Path) -> None:
    with pytest.raises(ConfigError, match=repr(durability)):
        SQLiteStorage(sqlite_path, durability=durability)  # type: ignore[arg-type]


@pytest.mark.parametrize("busy_timeout", [0, -1, float("nan"), float("inf"), True, "5"])
def test_busy_timeout_must_be_a_positive_number(busy_timeout: object, sqlite_path: Path) -> None:
    with pytest.raises(ConfigError, match="busy_timeout"):
        SQLiteStorage(sqlite_path, busy_timeout=busy_timeout)  # type: ignore[arg-type]


def test_constructor_does_no_io(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "later.db")
    assert not (tmp_path / "later.db").exists()
    assert storage.path == str(tmp_path / "later.db")
    assert storage.durability == "full"
    assert "later.db" in repr(storage)
    storage.close()
    assert not (tmp_path / "later.db").exists()


@pytest.mark.parametrize(("durability", "level"), [("full", 2), ("normal", 1)])
def test_every_connection_is_wal_with_the_durability_setting(
    durability: str, level: int, sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path, durability=durability, busy_timeout=2.5)
    _open_readers(storage, 4)
    connections = storage._connections()
    assert len(connections) == 5  # the writer and four readers
    for connection in connections:
        assert _pragma(connection, "journal_mode") == "wal"
        assert _pragma(connection, "synchronous") == level
        assert _pragma(connection, "busy_timeout") == 2500
        assert _pragma(connection, "foreign_keys") == 0
    writer, *readers = connections
    assert _pragma(writer, "query_only") == 0
    assert all(_pragma(reader, "query_only") == 1 for reader in readers)


def test_reader_pool_stays_bounded(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    done = []

    def read_a_lot() -> None:
        for _ in range(50):
            storage.list_runs()
        done.append(True)

    threads = [threading.Thread(target=read_a_lot) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(done) == 12
    assert len(storage._connections()) <= 5


def test_memory_database_uses_one_connection(open_sqlite: Callable[..., SQLiteStorage]) -> None:
    storage = open_sqlite(":memory:", durability="normal")
    assert storage.list_runs() == []
    connections = storage._connections()
    assert len(connections) == 1
    assert _pragma(connections[0], "synchronous") == 1
    assert _pragma(connections[0], "journal_mode") == "memory"


def test_two_memory_storages_are_separate(open_sqlite: Callable[..., SQLiteStorage]) -> None:
    first, second = open_sqlite(":memory:"), open_sqlite(":memory:")
    first.create_run(WorkflowRun("r", "wf", {}, None, RunStatus.PENDING, 1, 1))
    assert second.get_run("r") is None
    assert first.get_run("r") is not None


def test_close_is_idempotent_and_closes_every_connection(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    _open_readers(storage, 2)
    connections = storage._connections()
    storage.close()
    storage.close()
    for connection in connections:
        with pytest.raises(apsw.ConnectionClosedError):
            connection.execute("SELECT 1")
    with pytest.raises(StorageError, match="storage is closed") as raised:
        storage.list_schedules()
    assert raised.value.operation == "list_schedules"
    with pytest.raises(StorageError, match="storage is closed"):
        storage.initialize()


def test_close_waits_for_reads_in_flight(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    inside, release = threading.Event(), threading.Event()
    results: list[object] = []

    def slow_read() -> None:
        def read(connection: apsw.Connection) -> object:
            inside.set()
            release.wait(10)
            return connection.execute("SELECT 42").fetchall()[0][0]

        results.append(storage._read("test", read))

    reader = threading.Thread(target=slow_read)
    reader.start()
    assert inside.wait(10)
    storage.close()
    release.set()
    reader.join(10)
    assert results == [42]
    assert storage._connections() == []
