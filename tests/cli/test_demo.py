"""``reflow demo``: a real workflow to completion, a crash after a chosen step, and recovery."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Result, run_reflow
from tests.cli.processes import Worker

pytestmark = pytest.mark.timeout(60)

Cli = Callable[..., Result]
STEPS = ["validate", "charge", "email", "crm", "ship"]


def _run_id(text: str) -> str:
    found = re.search(r"run ([0-9a-f-]{36})", text)
    assert found, text
    return found.group(1)


def _steps(cli: Cli, db: Path, run_id: str) -> dict[str, dict[str, Any]]:
    shown = cli("runs", "show", run_id, "--db", str(db), "--json")
    assert shown.code == 0, shown.err
    return {step["name"]: step for step in shown.json()["steps"]}


def test_demo_runs_an_order_to_completion(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = run_reflow("demo", "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_id = _run_id(done.stdout)
    for step in STEPS:
        assert f"{step} completed" in done.stdout
    assert "charge completed (2 attempts)" in done.stdout  # the simulated timeout was retried
    assert "run completed" in done.stdout
    assert f"reflow runs list --db {db}" in done.stdout
    assert f"reflow runs show {run_id} --db {db}" in done.stdout
    steps = _steps(cli, db, run_id)
    assert list(steps) == STEPS
    assert {step["status"] for step in steps.values()} == {"completed"}
    assert steps["ship"]["output"]["tracking"].startswith("TRK-ch_o-")
    assert not (tmp_path / "reflow-demo.db").exists()


def test_demo_defaults_to_reflow_demo_db(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REFLOW_DB", str(tmp_path / "ignored.db"))  # the demo has its own file
    done = cli("demo")
    assert done.code == 0, done.err
    assert (tmp_path / "reflow-demo.db").exists()
    assert not (tmp_path / "ignored.db").exists()
    assert "reflow runs list --db reflow-demo.db" in done.out


def test_crash_after_a_step_then_resume(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    crashed = run_reflow("demo", "--db", str(db), "--crash-after", "charge")
    assert crashed.returncode == 1, crashed.stderr
    assert "CRASH" in crashed.stdout
    assert "Traceback" not in crashed.stderr
    run_id = _run_id(crashed.stdout)
    listed = cli("runs", "list", "--db", str(db), "--status", "running", "--json").json()
    assert [run["id"] for run in listed["runs"]] == [run_id]
    before = _steps(cli, db, run_id)
    assert before["validate"]["status"] == before["charge"]["status"] == "completed"
    assert "ship" not in before

    refused = cli("runs", "resume", run_id, "--db", str(db))
    assert refused.code == 1
    assert "reclaims it once its lease expires" in refused.err

    resumed = run_reflow("demo", "--resume", "--db", str(db))
    assert resumed.returncode == 0, resumed.stderr
    assert "recovering 1 demo run(s)" in resumed.stdout
    assert "validate completed" not in resumed.stdout  # saved steps are not run again
    assert "ship completed" in resumed.stdout
    after = _steps(cli, db, run_id)
    assert {step["status"] for step in after.values()} == {"completed"}
    for name in ("validate", "charge"):
        assert after[name]["attempts"] == before[name]["attempts"]
        assert after[name]["updated_at"] == before[name]["updated_at"]

    nothing = run_reflow("demo", "--resume", "--db", str(db))
    assert nothing.returncode == 1
    assert "no unfinished demo run" in nothing.stderr


def test_a_worker_on_the_demo_module_recovers_a_crash(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    crashed = run_reflow("demo", "--db", str(db), "--crash-after", "email")
    assert crashed.returncode == 1, crashed.stderr
    run_id = _run_id(crashed.stdout)
    worker = Worker(
        tmp_path,
        "--db",
        str(db),
        reference="reflow_actors._cli.demo_workflow:engine",
        workflow="demo-order",
    )
    try:
        worker.expect(lambda r: r["type"] == "run_complete" and r["run_id"] == run_id)
        code, _ = worker.signal(signal.SIGTERM)
        assert code == 0
    finally:
        worker.close()
    steps = _steps(cli, db, run_id)
    assert {step["status"] for step in steps.values()} == {"completed"}
    assert list(steps) == STEPS


def test_demo_json(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = cli("demo", "--db", str(db), "--json")
    assert result.code == 0, result.err
    document = result.json()
    assert set(document) == {"runs", "events"}
    (only,) = document["runs"]
    assert only["run"]["status"] == "completed"
    assert [step["name"] for step in only["steps"]] == STEPS
    kinds = [event["type"] for event in document["events"]]
    assert kinds[0] == "run_start"
    assert kinds[-1] == "run_complete"
    assert kinds.count("step_complete") == len(STEPS)


def test_demo_resume_needs_a_database(cli: Cli, tmp_path: Path) -> None:
    result = cli("demo", "--resume", "--db", str(tmp_path / "none.db"))
    assert result.code == 3
    assert not (tmp_path / "none.db").exists()


def test_crash_after_takes_a_known_step(cli: Cli) -> None:
    assert cli("demo", "--crash-after", "nope").code == 2
    assert cli("demo", "--crash-after", "charge", "--resume").code == 2
