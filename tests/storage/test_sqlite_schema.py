"""Schema creation, reflow-ts migrations, refused databases and index-backed queries."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

from reflow_actors.errors import StorageError
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun, WorkflowSchedule
from reflow_actors.storage import SQLiteStorage
from reflow_actors.storage import _sqlite_runs as run_sql
from reflow_actors.storage import _sqlite_schedules as schedule_sql
from reflow_actors.storage._sqlite_schema import SCHEMA_VERSION, migrate

# reflow-ts 0.5/0.6 shape: no wake_at on runs, schedules with interval_ms NOT NULL and no cron.
LEGACY_DDL = """
CREATE TABLE workflow_runs (
  id TEXT PRIMARY KEY, workflow TEXT NOT NULL, input TEXT NOT NULL, idempotency_key TEXT,
  lease_id TEXT, status TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE workflow_steps (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
  output TEXT, error TEXT, attempts INTEGER DEFAULT 0,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE workflow_events (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, event_name TEXT NOT NULL, payload TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE workflow_schedules (
  key TEXT PRIMARY KEY, workflow TEXT NOT NULL, input TEXT NOT NULL,
  interval_ms INTEGER NOT NULL, next_run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX idx_runs_status ON workflow_runs(status, workflow);
CREATE INDEX idx_steps_run_id ON workflow_steps(run_id);
CREATE INDEX idx_events_run_name ON workflow_events(run_id, event_name, created_at);
CREATE INDEX idx_schedules_due ON workflow_schedules(next_run_at);
CREATE UNIQUE INDEX idx_runs_workflow_idempotency
  ON workflow_runs(workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
INSERT INTO workflow_runs VALUES ('legacy', 'test', '{"x":1}', NULL, NULL, 'pending', 1, 1);
INSERT INTO workflow_runs VALUES ('done', 'test', '{"__reflowUndefined__":true}', 'k', NULL,
  'completed', 2, 3);
INSERT INTO workflow_steps VALUES ('s-old', 'done', 'a', 'failed', 'null', 'Error: x', 1, 5, 6);
INSERT INTO workflow_steps VALUES ('s-new', 'done', 'a', 'completed',
  '{"when":{"__reflowDate__":"2025-06-15T12:00:00.000Z"}}', NULL, 2, 5, 9);
INSERT INTO workflow_steps VALUES ('s-b', 'done', 'b', 'completed', '{"__reflowUndefined__":true}',
  NULL, NULL, 7, 7);
INSERT INTO workflow_events VALUES ('e1', 'legacy', 'go', '{"n":1}', 4);
INSERT INTO workflow_schedules VALUES ('legacy', 'test', '{"olderThanDays":30}', 60000, 5000, 1, 1);
"""


def _schema(path: Path) -> list[tuple[object, ...]]:
    connection = apsw.Connection(str(path))
    try:
        return connection.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        connection.close()


def _user_version(path: Path) -> int:
    connection = apsw.Connection(str(path))
    try:
        version: Any = connection.execute("PRAGMA user_version").fetchall()[0][0]
        return int(version)
    finally:
        connection.close()


def _write_raw(path: Path, sql: str, *, wal: bool = False) -> None:
    connection = apsw.Connection(str(path))
    try:
        if wal:
            connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(sql)
    finally:
        connection.close()


def test_fresh_database_gets_the_current_schema(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    open_sqlite(sqlite_path)
    assert _user_version(sqlite_path) == SCHEMA_VERSION
    names = {row[1] for row in _schema(sqlite_path)}
    assert {"workflow_runs", "workflow_steps", "workflow_events", "workflow_schedules"} <= names
    assert {"idx_runs_pending", "idx_runs_due", "idx_runs_stale", "idx_steps_run_name"} <= names


def test_initialize_again_changes_nothing(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    storage.create_run(WorkflowRun("r", "wf", {}, None, RunStatus.PENDING, 1, 1))
    before = _schema(sqlite_path)
    storage.initialize()
    open_sqlite(sqlite_path).initialize()
    assert _schema(sqlite_path) == before
    assert storage.get_run("r") is not None


def test_reflow_ts_database_is_migrated_and_its_rows_work(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    _write_raw(sqlite_path, LEGACY_DDL)
    storage = open_sqlite(sqlite_path)
    assert _user_version(sqlite_path) == SCHEMA_VERSION
    names = {row[1] for row in _schema(sqlite_path)}
    assert "workflow_schedules_old" not in names
    assert "idx_runs_status" not in names  # superseded by the partial indexes

    # The legacy run is claimable, sleeps with a past wake time, and is claimed again.
    claimed = storage.claim_next_run(["test"])
    assert claimed is not None
    assert claimed.id == "legacy"
    assert claimed.input == {"x": 1}
    assert claimed.lease_id is not None
    assert storage.sleep_run("legacy", claimed.lease_id, 1)
    again = storage.claim_next_run(["test"])
    assert again is not None
    assert again.id == "legacy"
    assert again.lease_id != claimed.lease_id
    assert storage.take_event("legacy", "go") is not None

    # Duplicate step rows of one name collapse to the latest one; legacy values decode.
    rows = storage.get_step_results("done")
    assert [(row.id, row.name, row.status) for row in rows] == [
        ("s-new", "a", StepStatus.COMPLETED),
        ("s-b", "b", StepStatus.COMPLETED),
    ]
    assert rows[0].output["when"].year == 2025
    assert rows[1].output is None
    assert rows[1].attempts == 0
    assert storage.create_run(
        WorkflowRun("x", "test", {}, "k", RunStatus.PENDING, 9, 9)
    ).run.id == ("done")

    # The 0.6 schedule survives the rebuild, and cron schedules can now be stored.
    (legacy,) = storage.list_schedules()
    assert (legacy.key, legacy.every, legacy.cron, legacy.next_run_at) == (
        "legacy",
        60.0,
        None,
        5_000,
    )
    assert legacy.input == {"olderThanDays": 30}
    storage.upsert_schedule(WorkflowSchedule("nightly", "test", {}, None, "0 9 * * *", 7_000))
    assert [s.key for s in storage.list_schedules()] == ["legacy", "nightly"]
    assert storage.list_schedules()[1].cron == "0 9 * * *"
    claimed_schedule = storage.claim_due_schedule(["test"], 5_000)
    assert claimed_schedule is not None
    assert claimed_schedule.key == "legacy"

    # Initializing the migrated database again rebuilds nothing and loses nothing.
    before = _schema(sqlite_path)
    storage.initialize()
    assert _schema(sqlite_path) == before
    assert len(storage.list_schedules()) == 2


def test_reflow_ts_0_7_database_keeps_its_columns(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    ddl = LEGACY_DDL.replace("lease_id TEXT, status", "lease_id TEXT, status").replace(
        "interval_ms INTEGER NOT NULL, next_run_at", "interval_ms INTEGER, cron TEXT, next_run_at"
    )
    ddl = ddl.replace(
        "INSERT INTO workflow_schedules VALUES ('legacy', 'test', '{\"olderThanDays\":30}', 60000,",
        "INSERT INTO workflow_schedules VALUES ('legacy', 'test', '{\"olderThanDays\":30}', NULL,"
        " '*/5 * * * *',",
    )
    ddl += "ALTER TABLE workflow_runs ADD COLUMN wake_at INTEGER;"
    _write_raw(sqlite_path, ddl)
    storage = open_sqlite(sqlite_path)
    (schedule,) = storage.list_schedules()
    assert (schedule.every, schedule.cron) == (None, "*/5 * * * *")
    assert storage.get_run("legacy") is not None


def test_newer_schema_is_refused_and_left_untouched(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    _write_raw(
        sqlite_path,
        "CREATE TABLE future_things (x); INSERT INTO future_things VALUES (1);"
        f"PRAGMA user_version = {SCHEMA_VERSION + 1}",
        wal=True,
    )
    before = _schema(sqlite_path)
    storage = open_sqlite(sqlite_path, initialize=False)
    with pytest.raises(StorageError, match="newer") as raised:
        storage.initialize()
    assert raised.value.operation == "initialize"
    assert "upgrade reflow-actors" in str(raised.value)
    assert _schema(sqlite_path) == before
    assert _user_version(sqlite_path) == SCHEMA_VERSION + 1


@pytest.mark.parametrize(
    "content", [b"this is not a database at all " * 200, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_corrupt_file_raises_storage_error_caused_by_apsw(
    content: bytes, sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    sqlite_path.write_bytes(content)
    storage = open_sqlite(sqlite_path, initialize=False)
    with pytest.raises(StorageError) as raised:
        storage.initialize()
    assert raised.value.operation == "initialize"
    assert isinstance(raised.value.__cause__, apsw.Error)
    assert isinstance(raised.value.__cause__, (apsw.NotADBError, apsw.CorruptError))
    with pytest.raises(StorageError) as again:
        storage.get_run("x")
    assert isinstance(again.value.__cause__, apsw.Error)


def test_missing_directory_is_a_clear_storage_error(
    tmp_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(tmp_path / "no" / "such" / "dir" / "x.db", initialize=False)
    with pytest.raises(StorageError, match="cannot open") as raised:
        storage.initialize()
    assert isinstance(raised.value.__cause__, apsw.CantOpenError)
    directory = open_sqlite(tmp_path, initialize=False)
    with pytest.raises(StorageError, match="cannot open"):
        directory.initialize()


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Make a path immutable with chattr (works for root too); undone at teardown."""
    marked: list[Path] = []

    def mark(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
        marked.append(path)

    yield mark
    for path in reversed(marked):
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_read_only_directory_is_refused_at_initialize(
    tmp_path: Path, immutable: Callable[[Path], None], open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    immutable(folder)
    storage = open_sqlite(folder / "x.db", initialize=False)
    with pytest.raises(StorageError, match="needs to write") as raised:
        storage.initialize()
    assert raised.value.operation == "initialize"


def test_read_only_file_is_refused_at_initialize(
    sqlite_path: Path, immutable: Callable[[Path], None], open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    open_sqlite(sqlite_path).close()
    immutable(sqlite_path)
    storage = open_sqlite(sqlite_path, initialize=False)
    with pytest.raises(StorageError, match="read-only"):
        storage.initialize()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied_directory_is_refused(
    tmp_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:  # pragma: no cover - only runs as a regular user
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        storage = open_sqlite(folder / "x.db", initialize=False)
        with pytest.raises(StorageError, match="needs to write"):
            storage.initialize()
    finally:
        folder.chmod(0o755)


# -- query plans ----------------------------------------------------------------------


@pytest.fixture
def big_history(tmp_path: Path) -> Iterator[apsw.Connection]:
    """A migrated database with many finished runs and statistics gathered."""
    connection = apsw.Connection(str(tmp_path / "plans.db"))
    connection.execute("BEGIN IMMEDIATE")
    migrate(connection)
    connection.executemany(
        "INSERT INTO workflow_runs (id, workflow, input, status, created_at, updated_at) "
        "VALUES (?, ?, '{}', ?, ?, ?)",
        [
            (
                f"r{index:05d}",
                f"wf{index % 3}",
                "completed" if index % 50 else "pending",
                index,
                index,
            )
            for index in range(6_000)
        ],
    )
    connection.execute("COMMIT")
    yield connection
    connection.close()


def _plan(connection: apsw.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    return [str(row[3]) for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def _assert_index_only(plan: list[str], *, sorted_by_index: bool) -> None:
    runs = [step for step in plan if "workflow_runs" in step]
    assert runs, plan
    for step in runs:
        assert "USING INDEX" in step or "USING COVERING INDEX" in step, plan
    if sorted_by_index:
        assert not any("TEMP B-TREE" in step for step in plan), plan


@pytest.mark.parametrize("analyzed", [False, True], ids=["no-stats", "analyzed"])
def test_claim_and_list_queries_use_indexes(big_history: apsw.Connection, analyzed: bool) -> None:
    if analyzed:
        big_history.execute("ANALYZE")
    names = '["wf0", "wf1"]'
    _assert_index_only(_plan(big_history, run_sql._PENDING, ("wf0", 5)), sorted_by_index=True)
    _assert_index_only(_plan(big_history, run_sql._DUE, (10, names, 5)), sorted_by_index=False)
    _assert_index_only(_plan(big_history, run_sql._STALE, (10, names, 5)), sorted_by_index=False)
    for by_status in (False, True):
        for by_workflow in (False, True):
            for before, before_id in ((None, None), (9, None), (9, "r9")):
                sql, params = run_sql.list_query(
                    status=RunStatus.FAILED if by_status else None,
                    workflow="wf1" if by_workflow else None,
                    limit=100,
                    before=before,
                    before_id=before_id,
                )
                _assert_index_only(_plan(big_history, sql, params), sorted_by_index=True)
    steps = _plan(
        big_history, "SELECT 1 FROM workflow_steps WHERE run_id = ? AND name = ?", ("r", "a")
    )
    assert any("idx_steps_run_name" in step for step in steps)
    due = _plan(big_history, schedule_sql._DUE, (10, names))
    assert any("idx_schedules_due" in step for step in due), due


def test_step_rows_have_one_row_per_name_enforced_by_sqlite(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    storage.save_step_result(StepResult("a", StepStatus.COMPLETED, 1, run_id="r", id="id-1"))
    connection = apsw.Connection(str(sqlite_path))
    try:
        with pytest.raises(apsw.ConstraintError):
            connection.execute(
                "INSERT INTO workflow_steps (id, run_id, name, status, created_at, updated_at) "
                "VALUES ('id-2', 'r', 'a', 'completed', 1, 1)"
            )
    finally:
        connection.close()
