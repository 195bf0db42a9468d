"""``reflow runs list`` and ``reflow runs show``: tables, JSON, filters, pages, read-only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reflow_actors import RunStatus, StepResult, StepStatus, WorkflowRun
from reflow_actors.storage import SQLiteStorage
from tests.cli import flows
from tests.cli.conftest import Populated, Result, drive, snapshot

pytestmark = pytest.mark.timeout(30)

Cli = Callable[..., Result]


def _ids(result: Result) -> list[str]:
    return [run["id"] for run in result.json()["runs"]]


def test_list_shows_every_run_newest_first(cli: Cli, populated: Populated) -> None:
    result = cli("runs", "list", "--db", populated.db)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["ID", "WORKFLOW", "STATUS", "CREATED", "UPDATED"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == [
        populated.pending,
        populated.waiting,
        populated.failed,
        populated.completed,
    ]
    assert [row[2] for row in rows] == ["pending", "waiting", "failed", "completed"]
    assert "next:" not in result.out
    assert result.err == ""


def test_list_json_has_the_documented_shape(cli: Cli, populated: Populated) -> None:
    result = cli("--json", "runs", "list", "--db", populated.db)
    assert result.code == 0
    document = result.json()
    assert set(document) == {"runs", "next"}
    assert document["next"] is None
    newest = document["runs"][-1]
    assert set(newest) == {
        "id",
        "workflow",
        "status",
        "input",
        "idempotency_key",
        "created_at",
        "created_at_iso",
        "updated_at",
        "updated_at_iso",
    }
    assert newest["id"] == populated.completed
    assert newest["input"] == {"name": "ada"}
    assert newest["idempotency_key"] == "k-1"
    assert isinstance(newest["created_at"], int)
    assert newest["created_at_iso"].endswith("Z")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("--status", "failed"), ["failed"]),
        (("--workflow", "greet"), ["pending", "completed"]),
        (("--workflow", "greet", "--status", "completed"), ["completed"]),
        (("--status", "cancelled"), []),
        (("--workflow", "nope"), []),
    ],
)
def test_list_filters(
    cli: Cli, populated: Populated, filters: tuple[str, ...], expected: list[str]
) -> None:
    result = cli("runs", "list", "--db", populated.db, "--json", *filters)
    assert result.code == 0
    assert _ids(result) == [getattr(populated, name) for name in expected]


def test_an_empty_listing_says_so(cli: Cli, populated: Populated) -> None:
    result = cli("runs", "list", "--db", populated.db, "--status", "cancelled")
    assert result.code == 0
    assert result.out.strip() == f"no runs in {populated.db}"


def test_json_pages_walk_every_run_exactly_once(cli: Cli, populated: Populated) -> None:
    everything = _ids(cli("runs", "list", "--db", populated.db, "--json"))
    seen: list[str] = []
    cursor: list[str] = []
    for _ in range(10):
        page = cli("runs", "list", "--db", populated.db, "--json", "--limit", "1", *cursor)
        assert page.code == 0
        seen += _ids(page)
        following = page.json()["next"]
        if following is None:
            break
        cursor = ["--before", following]
    assert seen == everything
    assert len(everything) == 4


def test_text_pages_print_the_next_cursor(cli: Cli, populated: Populated) -> None:
    first = cli("runs", "list", "--db", populated.db, "--limit", "3")
    last_line = first.out.splitlines()[-1]
    assert last_line.startswith("next: ")
    cursor = last_line.split()[1]
    assert cursor.endswith(":" + populated.failed)
    second = cli("runs", "list", "--db", populated.db, "--limit", "3", "--before", cursor)
    assert second.code == 0
    rows = second.out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == [populated.completed]


@pytest.mark.parametrize(
    "bad", [("--limit", "0"), ("--limit", "x"), ("--before", "abc"), ("--status", "done")]
)
def test_bad_list_arguments_are_usage_errors(
    cli: Cli, populated: Populated, bad: tuple[str, ...]
) -> None:
    result = cli("runs", "list", "--db", populated.db, *bad)
    assert result.code == 2
    assert "Traceback" not in result.err


def test_show_prints_the_run_and_its_steps(cli: Cli, populated: Populated) -> None:
    result = cli("runs", "show", populated.completed, "--db", populated.db)
    assert result.code == 0, result.err
    fields = dict(line.split(None, 1) for line in result.out.splitlines()[:7])
    assert fields["run"] == populated.completed
    assert fields["workflow"] == "greet"
    assert fields["status"] == "completed"
    assert fields["input"] == '{"name":"ada"}'
    assert fields["key"] == "k-1"
    table = result.out.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["NAME", "STATUS", "ATTEMPTS", "UPDATED", "ERROR/OUTPUT"]
    assert table[1].split()[:3] == ["hello", "completed", "1"]
    assert table[1].endswith('{"greeting":"hello ada"}')
    assert table[2].endswith('{"loud":"HELLO ADA"}')


def test_show_a_failed_run_gives_its_error_on_one_line(cli: Cli, populated: Populated) -> None:
    result = cli("runs", "show", populated.failed, "--db", populated.db)
    assert result.code == 0
    assert f"resume it with: reflow runs resume {populated.failed}" in result.out
    pay = next(line for line in result.out.splitlines() if line.startswith("pay "))
    assert pay.split()[1] == "failed"
    assert "NonRetryableError: card declined second line of detail" in pay


def test_show_json_has_the_documented_shape(cli: Cli, populated: Populated) -> None:
    result = cli("runs", "show", populated.waiting, "--db", populated.db, "--json")
    assert result.code == 0
    document = result.json()
    assert set(document) == {"run", "steps"}
    assert document["run"]["id"] == populated.waiting
    assert document["run"]["status"] == "waiting"
    names = [step["name"] for step in document["steps"]]
    assert names == ["request", "approved"]
    request = document["steps"][0]
    assert set(request) == {
        "name",
        "status",
        "shown_status",
        "attempts",
        "output",
        "error",
        "created_at",
        "created_at_iso",
        "updated_at",
        "updated_at_iso",
    }
    assert request["output"] == {"asked": True}
    assert document["steps"][1]["status"] == "waiting"


def test_long_outputs_fit_the_terminal_but_json_keeps_them(
    cli: Cli, tmp_path: Path, writer: Callable[[Path], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.db"
    engine = writer(path)
    run = engine.enqueue(flows.greet, {"name": "x" * 500})  # type: ignore[attr-defined]
    drive(engine, run.id, lambda status: status is RunStatus.COMPLETED)  # type: ignore[arg-type]
    monkeypatch.setenv("COLUMNS", "80")
    text = cli("runs", "show", run.id, "--db", str(path))
    assert text.code == 0
    assert all(len(line) <= 80 for line in text.out.splitlines() if not line.startswith("input"))
    assert any(line.endswith("...") for line in text.out.splitlines())
    document = cli("runs", "show", run.id, "--db", str(path), "--json").json()
    assert document["steps"][0]["output"] == {"greeting": "hello " + "x" * 500}


def test_a_running_step_of_a_finished_run_shows_as_interrupted(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "interrupted.db"
    storage = SQLiteStorage(path)
    storage.initialize()
    storage.create_run(WorkflowRun("r-1", "greet", {}, None, RunStatus.RUNNING, 1_000, 1_000))
    storage.save_step_result(StepResult("hello", StepStatus.RUNNING, attempts=1, run_id="r-1"))
    storage.update_run_status("r-1", RunStatus.CANCELLED)
    storage.close()
    text = cli("runs", "show", "r-1", "--db", str(path))
    row = next(line for line in text.out.splitlines() if line.startswith("hello"))
    assert row.split()[1] == "interrupted"
    step = cli("runs", "show", "r-1", "--db", str(path), "--json").json()["steps"][0]
    assert (step["status"], step["shown_status"]) == ("running", "interrupted")


def test_the_database_defaults_to_reflow_db_env(
    cli: Cli, populated: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLOW_DB", populated.db)
    result = cli("runs", "show", populated.completed)
    assert result.code == 0
    monkeypatch.delenv("REFLOW_DB")
    monkeypatch.chdir(populated.path.parent)  # ./reflow.db is the last default
    assert cli("runs", "list", "--json").code == 0


def test_reads_leave_the_database_untouched(cli: Cli, populated: Populated) -> None:
    before = snapshot(populated.path)
    for args in (
        ("runs", "list"),
        ("runs", "list", "--json", "--status", "failed"),
        ("runs", "show", populated.failed),
        ("schedules", "list"),
        ("runs", "show", "no-such-run"),
    ):
        cli(*args, "--db", populated.db)
    assert snapshot(populated.path) == before
