"""``reflow worker module:engine``: a real process, stopped by signals, leaving runs reclaimable."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reflow_actors import Engine, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage
from tests.cli.conftest import Result, run_status, wait_until
from tests.cli.processes import Worker

pytestmark = pytest.mark.timeout(60)

Cli = Callable[..., Result]

APP = """
import os
import pathlib

from reflow_actors import create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

HOLD = pathlib.Path(__file__).with_name("hold")


def first(ctx):
    return {"n": ctx.input["n"]}


def second(ctx):
    if HOLD.exists():
        ctx.signal.wait(30)  # until the engine stops and aborts the signal
        ctx.signal.throw_if_aborted()
    return {"doubled": ctx.prev["n"] * 2}


work = create_workflow("work").step("first", first).step("second", second)


def engine():
    storage = SQLiteStorage(os.environ.get("REFLOW_DB") or "app.db")
    return create_engine(
        storage=storage, workflows=[work], lease_duration=1, heartbeat_interval=0.2
    )
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    (tmp_path / "app.py").write_text(APP)
    workers: list[Worker] = []

    def start(*extra: str) -> Worker:
        worker = Worker(tmp_path, *extra)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.close()


@pytest.fixture
def enqueuer(tmp_path: Path) -> Iterator[Engine]:
    """An engine in the test process that only enqueues (never started)."""
    engine = create_engine(
        storage=SQLiteStorage(tmp_path / "app.db"), workflows=[create_workflow("work")]
    )
    yield engine
    engine.storage.close()


def _is(kind: str, run_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda record: record["type"] == kind and record["run_id"] == run_id


def test_worker_runs_work_and_stops_gracefully_on_sigterm(
    app: Callable[..., Worker], enqueuer: Engine, tmp_path: Path, cli: Cli
) -> None:
    worker = app()
    ids = [enqueuer.enqueue("work", {"n": n}).id for n in range(3)]
    for run_id in ids:
        done = worker.expect(_is("run_complete", run_id))
        assert done["workflow"] == "work"
        assert worker.expect(_is("run_start", run_id))["at"].endswith("Z")
    assert {run_status(tmp_path / "app.db", run_id) for run_id in ids} == {"completed"}

    (tmp_path / "hold").touch()
    held = enqueuer.enqueue("work", {"n": 21}).id
    worker.expect(_is("run_start", held))

    def second_running() -> bool:
        shown = cli("runs", "show", held, "--db", str(tmp_path / "app.db"), "--json")
        steps = {step["name"]: step["status"] for step in shown.json()["steps"]}
        return steps.get("second") == "running"

    wait_until(second_running, what="the held step to be running (read beside the worker)")
    code, took = worker.signal(signal.SIGTERM)
    assert code == 0, worker.stderr()
    assert took < 8  # generous for a loaded machine; typically well under a second
    assert worker.expect(lambda r: r["type"] == "worker_stopping")["signal"] == "SIGTERM"
    worker.expect(lambda r: r["type"] == "worker_stopped")
    assert run_status(tmp_path / "app.db", held) == "running"  # left for another worker

    (tmp_path / "hold").unlink()
    second = app("--verbose")
    second.expect(_is("run_complete", held))  # reclaimed once the 1 s lease expired
    assert run_status(tmp_path / "app.db", held) == "completed"
    steps = cli("runs", "show", held, "--db", str(tmp_path / "app.db"), "--json").json()["steps"]
    assert [(s["name"], s["status"], s["attempts"]) for s in steps] == [
        ("first", "completed", 1),
        ("second", "completed", 2),
    ]
    assert second.expect(_is("step_complete", held))["step_name"] == "second"
    code, _ = second.signal(signal.SIGINT)
    assert code == 0


SLOW_CLOSE_APP = """
import threading

from reflow_actors import create_engine, create_workflow
from reflow_actors.storage import MemoryStorage


class SlowClose(MemoryStorage):
    def close(self):
        threading.Event().wait(30)  # the worker closes the engine's storage after stopping it
        super().close()


def engine():
    return create_engine(storage=SlowClose(), workflows=[create_workflow("work")])
"""


def test_a_second_signal_exits_at_once_with_130(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SLOW_CLOSE_APP)
    worker = Worker(tmp_path)
    try:
        worker.process.send_signal(signal.SIGINT)
        worker.expect(lambda record: record["type"] == "worker_stopping")
        code, took = worker.signal(signal.SIGTERM)
        assert code == 130
        assert took < 8  # generous: a loaded CI machine; typically well under a second
        assert "SIGTERM again: exiting now" in worker.stderr()
    finally:
        worker.close()


def test_worker_text_log(tmp_path: Path, enqueuer: Engine) -> None:
    (tmp_path / "app.py").write_text(APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "reflow_actors", "worker", "app", "--poll-interval", "0.05"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"worker started (pid {process.pid}) on app.db: workflows work")
        run_id = enqueuer.enqueue("work", {"n": 1}).id
        assert process.stdout.readline().split()[2:] == [run_id, "work", "run", "started"]
        assert process.stdout.readline().split()[2:] == [run_id, "work", "run", "completed"]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert out.splitlines()[-1] == "worker stopped"
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def test_worker_db_option_reaches_the_app(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    other = tmp_path / "other.db"
    worker = Worker(tmp_path, "--db", str(other))
    try:
        code, _ = worker.signal(signal.SIGTERM)
        assert code == 0
        assert other.exists()
        assert not (tmp_path / "app.db").exists()
    finally:
        worker.close()


def test_worker_with_a_missing_module_is_invalid_input(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reflow_actors", "worker", "missing_module:engine"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 5
    assert done.stderr == (
        "reflow: error: cannot import 'missing_module': no module named 'missing_module' "
        f"(looked in {tmp_path} and on sys.path)\n"
    )


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("app:nothing", "'app' has no attribute 'nothing'"),
        (
            "app:HOLD",
            "app:HOLD is a PosixPath, not an Engine "
            "(or a function with no arguments that returns one)",
        ),
    ],
)
def test_worker_with_a_bad_app_is_invalid_input(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: str, message: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "app", raising=False)
    try:
        result = cli("worker", reference)
    finally:
        sys.modules.pop("app", None)
    assert result.code == 5
    assert result.err == f"reflow: error: {message}\n"


def test_an_app_that_raises_on_import_is_reported_in_one_line(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_app.py").write_text("raise RuntimeError('configuration missing')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    result = cli("worker", "broken_app:engine")
    assert result.code == 5
    assert result.err == (
        "reflow: error: importing 'broken_app' raised RuntimeError: configuration missing\n"
    )
    sys.modules.pop("broken_app", None)
