"""Failures end in one line on stderr and an exit code scripts can rely on; never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

from reflow_actors.cli import ExitCode
from reflow_actors.storage import MemoryStorage
from reflow_actors.storage._sqlite_schema import SCHEMA_VERSION
from tests.cli.conftest import Populated, Result

pytestmark = pytest.mark.timeout(30)

Cli = Callable[..., Result]

READS = [
    ("runs", "list"),
    ("runs", "show", "some-id"),
    ("schedules", "list"),
]
WRITES = [
    ("runs", "cancel", "some-id"),
    ("runs", "resume", "some-id"),
    ("events", "send", "some-id", "go", "{}"),
    ("schedules", "remove", "some-key"),
]


def _error(result: Result) -> str:
    assert result.out == ""
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("reflow: error: ")
    return lines[0].removeprefix("reflow: error: ")


def test_exit_codes_are_stable() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "REFUSED": 1,
        "USAGE": 2,
        "NOT_FOUND": 3,
        "STORAGE": 4,
        "INVALID": 5,
        "INTERRUPTED": 130,
    }


@pytest.mark.parametrize("args", READS + WRITES, ids=" ".join)
def test_a_missing_database_is_not_found_and_not_created(
    cli: Cli, tmp_path: Path, args: tuple[str, ...]
) -> None:
    path = tmp_path / "missing.db"
    result = cli(*args, "--db", str(path))
    assert result.code == 3
    assert _error(result) == f"no database at {path}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", READS + WRITES, ids=" ".join)
def test_a_corrupt_file_is_a_storage_error(cli: Cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    path = tmp_path / "corrupt.db"
    garbage = b"\x00garbage, not SQLite\xff" * 200
    path.write_bytes(garbage)
    result = cli(*args, "--db", str(path))
    assert result.code == 4
    assert _error(result).startswith(f"{path}: ")
    assert "not a database" in result.err
    assert path.read_bytes() == garbage


def test_a_newer_schema_is_a_storage_error(cli: Cli, populated: Populated) -> None:
    connection = apsw.Connection(populated.db)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    result = cli("runs", "list", "--db", populated.db)
    assert result.code == 4
    assert "upgrade reflow-actors" in _error(result)


def test_an_unknown_run_is_not_found(cli: Cli, populated: Populated) -> None:
    result = cli("runs", "show", "no-such-run", "--db", populated.db, "--json")
    assert result.code == 3
    assert _error(result) == f"no run no-such-run in {populated.db}"


def test_no_command_is_a_usage_error(cli: Cli) -> None:
    result = cli()
    assert result.code == 2
    assert "required" in result.err


@pytest.mark.parametrize("args", [("runs",), ("runs", "frobnicate"), ("worker",), ("--nope",)])
def test_bad_arguments_are_usage_errors(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.code == 2
    assert "Traceback" not in result.err


def test_help_and_version(cli: Cli) -> None:
    helped = cli("--help")
    assert helped.code == 0
    assert "exit codes:" in helped.out
    assert "130  interrupted" in helped.out
    version = cli("--version")
    assert version.code == 0
    assert version.out.startswith("reflow-actors ")


def test_interrupted_is_130(
    cli: Cli, populated: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("reflow_actors._cli.runs.opened", interrupt)
    result = cli("runs", "list", "--db", populated.db)
    assert result.code == 130
    assert _error(result) == "interrupted"


def test_an_unexpected_error_is_one_line_unless_debugging(
    cli: Cli, populated: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr("reflow_actors._cli.runs.opened", broken)
    result = cli("runs", "list", "--db", populated.db)
    assert result.code == 1
    assert _error(result) == (
        "unexpected RuntimeError: something; broke (set REFLOW_DEBUG=1 for the traceback)"
    )
    monkeypatch.setenv("REFLOW_DEBUG", "1")
    debugged = cli("runs", "list", "--db", populated.db)
    assert debugged.code == 1
    assert "Traceback" in debugged.err
    assert debugged.err.splitlines()[-1].startswith("reflow: error: unexpected RuntimeError")


def test_postgres_urls_need_the_extra(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "reflow_actors.storage.postgres", None)
    result = cli("runs", "list", "--db", "postgresql://localhost/reflow")
    assert result.code == 4
    assert "pip install 'reflow-actors[postgres]'" in _error(result)


def test_postgres_urls_go_to_postgres_storage(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    postgres = pytest.importorskip("reflow_actors.storage.postgres")
    given: list[str] = []

    def fake(dsn: str) -> MemoryStorage:
        given.append(dsn)
        return MemoryStorage()

    monkeypatch.setattr(postgres, "PostgresStorage", fake)
    url = "postgresql://reflow@db.example/reflow"
    result = cli("runs", "list", "--db", url, "--json")
    assert result.code == 0, result.err
    assert result.json() == {"runs": [], "next": None}
    assert given == [url]


def test_demo_refuses_postgres(cli: Cli) -> None:
    result = cli("demo", "--db", "postgresql://127.0.0.1:1/none")
    assert result.code == 5
    assert "SQLite file" in _error(result)


def test_empty_schedule_list(cli: Cli, tmp_path: Path, writer: Callable[[Path], Any]) -> None:
    path = tmp_path / "empty.db"
    writer(path).list_schedules()  # creates the schema
    result = cli("schedules", "list", "--db", str(path))
    assert (result.code, result.out) == (0, f"no schedules in {path}\n")
    assert cli("schedules", "list", "--db", str(path), "--json").json() == {"schedules": []}
