"""``reflow runs cancel`` and ``reflow runs resume``: writes through the storage adapter."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

from reflow_actors import Engine, RunStatus, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage
from tests.cli.conftest import Populated, Result, run_status, snapshot, wait_until

pytestmark = pytest.mark.timeout(30)

Cli = Callable[..., Result]


def _one_error_line(result: Result) -> str:
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("reflow: error: ")
    assert "Traceback" not in result.err
    return lines[0]


@pytest.mark.parametrize("which", ["pending", "waiting"])
def test_cancel_a_run_that_has_not_finished(cli: Cli, populated: Populated, which: str) -> None:
    run_id = getattr(populated, which)
    result = cli("runs", "cancel", run_id, "--db", populated.db)
    assert result.code == 0, result.err
    assert result.out.startswith(f"cancelled run {run_id} (was {which})")
    assert run_status(populated.path, run_id) == "cancelled"


def test_cancel_json(cli: Cli, populated: Populated) -> None:
    result = cli("--json", "runs", "cancel", populated.waiting, "--db", populated.db)
    document = result.json()
    assert document["previous_status"] == "waiting"
    assert document["run"]["status"] == "cancelled"
    assert document["run"]["id"] == populated.waiting


@pytest.mark.parametrize("which", ["completed", "failed"])
def test_cancel_a_finished_run_is_refused(cli: Cli, populated: Populated, which: str) -> None:
    run_id = getattr(populated, which)
    before = snapshot(populated.path)
    result = cli("runs", "cancel", run_id, "--db", populated.db, "--json")
    assert result.code == 1
    assert result.out == ""
    assert f"is already {which}" in _one_error_line(result)
    assert run_status(populated.path, run_id) == which
    assert snapshot(populated.path)[0] == before[0]


def test_cancel_halts_a_run_another_engine_is_executing(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    started = threading.Event()
    reasons: list[BaseException | None] = []

    def hold(ctx: Any) -> None:
        started.set()
        ctx.signal.wait(20)
        reasons.append(ctx.signal.reason)
        ctx.signal.throw_if_aborted()

    flow = create_workflow("hold").step("hold", hold).step("after", lambda ctx: "never")
    engine = create_engine(
        storage=SQLiteStorage(path), workflows=[flow], lease_duration=1, heartbeat_interval=0.1
    )
    try:
        engine.start(poll_interval=0.05)
        run = engine.enqueue(flow, None)
        assert started.wait(10)
        result = cli("runs", "cancel", run.id, "--db", str(path))
        assert result.code == 0, result.err
        assert "stops it at its next heartbeat" in result.out
        wait_until(lambda: reasons, what="the step to see its signal aborted")
        assert reasons[0] is not None
        info = engine.wait(run.id, timeout=10)
        assert info.run.status is RunStatus.CANCELLED
        assert info.step("after") is None
    finally:
        engine.stop()
        engine.storage.close()


def test_resume_requeues_a_failed_run(cli: Cli, populated: Populated) -> None:
    result = cli("runs", "resume", populated.failed, "--db", populated.db)
    assert result.code == 0, result.err
    assert f"requeued run {populated.failed} (failed -> pending)" in result.out
    assert 'registers workflow "boom"' in result.out
    storage = SQLiteStorage(populated.path, read_only=True)
    try:
        steps = {
            step.name: step.status.value for step in storage.get_step_results(populated.failed)
        }
    finally:
        storage.close()
    assert steps == {"prepare": "completed"}  # the failed row is dropped, completed ones kept
    assert run_status(populated.path, populated.failed) == "pending"


def test_resume_a_cancelled_run_json(cli: Cli, populated: Populated) -> None:
    assert cli("runs", "cancel", populated.waiting, "--db", populated.db).code == 0
    result = cli("runs", "resume", populated.waiting, "--db", populated.db, "--json")
    assert result.code == 0
    document = result.json()
    assert (document["previous_status"], document["run"]["status"]) == ("cancelled", "pending")


def test_resumed_run_finishes_on_a_worker(
    cli: Cli, populated: Populated, writer: Callable[[Path], Engine]
) -> None:
    assert cli("runs", "cancel", populated.waiting, "--db", populated.db).code == 0
    assert cli("runs", "resume", populated.waiting, "--db", populated.db).code == 0
    engine = writer(populated.path)
    engine.send_event(populated.waiting, "approved", {"by": "eve"})
    engine.start(poll_interval=0.05)
    info = engine.wait(populated.waiting, timeout=10)
    assert info.run.status is RunStatus.COMPLETED
    assert info.steps[-1].output == {"approved_by": "eve"}


@pytest.mark.parametrize(
    ("which", "status"),
    [("completed", "completed"), ("waiting", "waiting"), ("pending", "pending")],
)
def test_resume_refuses_runs_that_are_not_failed_or_cancelled(
    cli: Cli, populated: Populated, which: str, status: str
) -> None:
    result = cli("runs", "resume", getattr(populated, which), "--db", populated.db)
    assert result.code == 1
    assert "only failed or cancelled runs can be resumed" in _one_error_line(result)
    assert run_status(populated.path, getattr(populated, which)) == status


def test_resume_with_app_checks_the_workflow(cli: Cli, populated: Populated) -> None:
    ok = cli("runs", "resume", populated.failed, "--db", populated.db, "--app", "tests.cli.flows")
    assert ok.code == 0, ok.err
    assert run_status(populated.path, populated.failed) == "pending"


def test_resume_with_an_app_without_the_workflow_is_invalid(cli: Cli, populated: Populated) -> None:
    result = cli(
        "runs",
        "resume",
        populated.failed,
        "--db",
        populated.db,
        "--app",
        "tests.cli.flows:greet_only",
    )
    assert result.code == 5
    assert "boom" in _one_error_line(result)
    assert run_status(populated.path, populated.failed) == "failed"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tests.cli.no_such_module:engine", "cannot import 'tests.cli.no_such_module'"),
        ("tests.cli.flows:missing", "has no attribute 'missing'"),
        ("tests.cli.flows:not_an_engine", "is a int, not an Engine"),
        (":engine", "expected module:attribute"),
        ("tests.cli.flows:bad name", "expected module:attribute"),
    ],
)
def test_unloadable_apps_are_invalid_input(
    cli: Cli, populated: Populated, reference: str, message: str
) -> None:
    result = cli("runs", "resume", populated.failed, "--db", populated.db, "--app", reference)
    assert result.code == 5
    assert message in _one_error_line(result)
    assert run_status(populated.path, populated.failed) == "failed"


@pytest.mark.parametrize("command", ["cancel", "resume"])
def test_unknown_run_is_not_found(cli: Cli, populated: Populated, command: str) -> None:
    result = cli("runs", command, "no-such-run", "--db", populated.db)
    assert result.code == 3
    assert _one_error_line(result) == f"reflow: error: no run no-such-run in {populated.db}"


@pytest.mark.parametrize("command", ["cancel", "resume"])
def test_writes_never_create_a_database(cli: Cli, tmp_path: Path, command: str) -> None:
    path = tmp_path / "absent.db"
    result = cli("runs", command, "some-id", "--db", str(path))
    assert result.code == 3
    assert _one_error_line(result) == f"reflow: error: no database at {path}"
    assert list(tmp_path.iterdir()) == []


def test_writes_refuse_a_foreign_database(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    connection = apsw.Connection(str(path))
    connection.execute("CREATE TABLE notes (body TEXT)")
    connection.close()
    before = snapshot(path)
    result = cli("runs", "cancel", "some-id", "--db", str(path))
    assert result.code == 4
    assert "not a reflow database" in _one_error_line(result)
    assert snapshot(path) == before
