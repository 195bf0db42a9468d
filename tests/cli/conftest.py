"""Fixtures for the CLI tests: a populated database, an in-process ``reflow``, and waiting.

``cli(...)`` runs :func:`reflow_actors.cli.main` in this process and returns
its exit code with what it printed. ``wait_until`` is the only way these tests
wait: a condition polled against a deadline, never a bare sleep.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from reflow_actors import Engine, RunStatus, create_engine
from reflow_actors.cli import main
from reflow_actors.storage import SQLiteStorage
from tests import support
from tests.cli import flows

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, **options: Any) -> T:
    """:func:`tests.support.wait_until` with this package's longer default deadline."""
    return support.wait_until(predicate, timeout, **options)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lay tables out for 160 columns, whatever terminal runs the tests."""
    monkeypatch.setenv("COLUMNS", "160")


@dataclass
class Result:
    """What one ``reflow`` invocation returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return orjson.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``reflow ARGS...`` in this process."""

    def run(*args: str) -> Result:
        capsys.readouterr()  # drop anything printed before
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_reflow(
    *args: str, cwd: Path | None = None, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m reflow_actors ARGS...`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "reflow_actors", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class Populated:
    """A database with runs of each kind; ids by name."""

    path: Path
    completed: str
    failed: str
    waiting: str
    pending: str

    @property
    def db(self) -> str:
        return str(self.path)


def _engine(path: Path) -> Engine:
    return create_engine(storage=SQLiteStorage(path), workflows=flows.ALL)


def drive(engine: Engine, run_id: str, until: Callable[[RunStatus], bool]) -> None:
    """Tick ``engine`` until the run's status satisfies ``until``."""

    def reached() -> bool:
        engine.tick()
        info = engine.get_run_status(run_id)
        return info is not None and until(info.run.status)

    wait_until(reached, what=f"run {run_id}")


@pytest.fixture(scope="session")
def populated_template(tmp_path_factory: pytest.TempPathFactory) -> Populated:
    """Built once: greet completed, boom failed, approval waiting, greet pending, 2 schedules."""
    path = tmp_path_factory.mktemp("template") / "reflow.db"
    engine = _engine(path)
    try:
        completed = engine.enqueue(flows.greet, {"name": "ada"}, idempotency_key="k-1").id
        drive(engine, completed, lambda status: status is RunStatus.COMPLETED)
        failed = engine.enqueue(flows.boom, {"amount": 3}).id
        drive(engine, failed, lambda status: status is RunStatus.FAILED)
        waiting = engine.enqueue(flows.approval, {"doc": "d-1"}).id
        drive(engine, waiting, lambda status: status is RunStatus.WAITING)
        pending = engine.enqueue(flows.greet, {"name": "bob"}).id  # never ticked again
        engine.schedule(flows.greet, {"name": "cron"}, cron="0 9 * * 1", key="weekly")
        engine.schedule(flows.greet, {"name": "tick"}, every="90m", key="often")
    finally:
        engine.stop()
        engine.storage.close()  # the last connection checkpoints: the file is self-contained
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    return Populated(path, completed, failed, waiting, pending)


@pytest.fixture
def populated(populated_template: Populated, tmp_path: Path) -> Populated:
    """A fresh copy of the template database, for this test alone."""
    path = tmp_path / "reflow.db"
    shutil.copyfile(populated_template.path, path)
    return dataclasses.replace(populated_template, path=path)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Callable[[Path], Engine]]:
    """Engines on a given database (not started), stopped and closed at teardown."""
    engines: list[Engine] = []

    def make(path: Path) -> Engine:
        engine = _engine(path)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.stop()
        engine.storage.close()


def snapshot(path: Path) -> tuple[bytes, int]:
    """The database file's bytes and modification time."""
    return path.read_bytes(), path.stat().st_mtime_ns


def run_status(path: Path, run_id: str) -> str | None:
    """The run's status, read with a read-only adapter."""
    storage = SQLiteStorage(path, read_only=True)
    try:
        run = storage.get_run(run_id)
        return None if run is None else run.status.value
    finally:
        storage.close()
