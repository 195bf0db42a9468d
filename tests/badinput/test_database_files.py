"""Database files the engine cannot use: each is a ``StorageError``, and nothing is written.

A file that is not a database (random bytes), one that starts like SQLite and
then is garbage, a real database torn in half, a database whose schema is
newer than this code, and paths that cannot hold a database (on a read-only
filesystem, under a regular file, in a directory that does not exist). For
each, ``start()``, ``tick()`` and ``enqueue()`` raise ``StorageError`` (its
``operation`` is ``initialize``, its ``__cause__`` the APSW error), the file
is byte-for-byte unchanged, no ``-wal``/``-shm`` is left behind, no directory is
created, and no engine thread is left running.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import apsw
import pytest

from reflow_actors import create_engine, create_workflow
from reflow_actors.errors import StorageError
from reflow_actors.storage import SQLiteStorage
from reflow_actors.storage._sqlite_schema import SCHEMA_VERSION

WORKFLOW = create_workflow("any").step("s", lambda ctx: "ran")
ENGINE_THREADS = ("Dispatcher", "Heartbeat", "StepActor", "RunSupervisor", "reflow-")


def _engine_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(ENGINE_THREADS)}


def _assert_refused(bench, path: Path, cause: tuple[type, ...], match: str | None = None):
    """Every way into the engine raises StorageError; returns the first error."""
    threads = _engine_threads()
    storage = bench.sqlite(path)  # an absolute path stays as it is
    engine = bench.engine(storage, [WORKFLOW])
    errors = []
    for call in (engine.start, engine.tick, lambda: engine.enqueue(WORKFLOW, None)):
        with pytest.raises(StorageError, match=match) as raised:
            call()
        errors.append(raised.value)
    for error in errors:
        assert error.operation == "initialize"
        assert error.code == "STORAGE"
        assert isinstance(error.__cause__, cause), repr(error.__cause__)
    engine.stop()
    storage.close()
    assert _engine_threads() <= threads, "the failed start left engine threads behind"
    return errors[0]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _write_database(path: Path, runs: int) -> None:
    storage = SQLiteStorage(path)
    try:
        engine = create_engine(storage=storage, workflows=[WORKFLOW])
        for n in range(runs):
            engine.enqueue(WORKFLOW, {"n": n, "pad": "x" * 400})
        engine.stop()
    finally:
        storage.close()  # the last connection checkpoints and removes the -wal


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not a database, just a text file\n" * 100, id="text"),
        pytest.param(bytes(range(256)) * 64, id="random-bytes"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 8000, id="sqlite-header-then-garbage"),
    ],
)
def test_a_file_that_is_not_a_database_is_refused_untouched(bench, content):
    path = bench.tmp_path / "not-a.db"
    path.write_bytes(content)
    before = _snapshot(bench.tmp_path)
    _assert_refused(bench, path, (apsw.NotADBError, apsw.CorruptError))
    assert _snapshot(bench.tmp_path) == before


@pytest.mark.timeout(20)
def test_a_torn_database_is_refused_untouched(bench):
    whole = bench.tmp_path / "whole.db"
    _write_database(whole, runs=200)
    torn = bench.tmp_path / "torn.db"
    shutil.copy(whole, torn)
    with torn.open("r+b") as file:
        file.truncate(whole.stat().st_size // 2)
    before = _snapshot(bench.tmp_path)
    error = _assert_refused(bench, torn, (apsw.CorruptError, apsw.NotADBError))
    assert "malformed" in str(error)
    assert _snapshot(bench.tmp_path) == before


@pytest.mark.timeout(20)
def test_a_database_from_a_newer_schema_version_is_refused_untouched(bench):
    path = bench.tmp_path / "future.db"
    _write_database(path, runs=3)
    connection = apsw.Connection(str(path))
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    before = _snapshot(bench.tmp_path)
    threads = _engine_threads()
    storage = bench.sqlite("future.db")
    engine = bench.engine(storage, [WORKFLOW])
    for call in (engine.start, engine.tick, lambda: engine.enqueue(WORKFLOW, None)):
        with pytest.raises(StorageError, match="newer") as raised:
            call()
        assert raised.value.operation == "initialize"
        assert "upgrade reflow-actors" in str(raised.value)
    engine.stop()
    storage.close()
    assert _engine_threads() <= threads
    after = _snapshot(bench.tmp_path)
    assert after["future.db"] == before["future.db"]
    assert set(after) == set(before)


def _unusable_paths(tmp_path: Path) -> dict[str, Path]:
    regular = tmp_path / "a-regular-file"
    regular.write_text("not a directory")
    return {
        "read-only filesystem": Path("/proc/reflow-badinput.db"),
        "under a regular file": regular / "x.db",
        "missing parent directory": tmp_path / "no" / "such" / "dir" / "x.db",
    }


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "case", ["read-only filesystem", "under a regular file", "missing parent directory"]
)
def test_a_path_that_cannot_hold_a_database_is_refused_and_nothing_is_created(bench, case):
    path = _unusable_paths(bench.tmp_path)[case]
    before = _snapshot(bench.tmp_path)
    error = _assert_refused(bench, path, (apsw.CantOpenError,), match="cannot open")
    assert "needs to write the file" in str(error)
    assert not path.exists()
    assert _snapshot(bench.tmp_path) == before, "nothing may be created"
