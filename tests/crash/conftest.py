"""Fixtures for the crash tests: a lab with a database, a ledger, workers and engines.

``wait_until`` is the only way these tests wait: a condition polled against a
deadline, never a bare sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from reflow_actors import Engine, RunInfo, create_engine
from reflow_actors.storage import SQLiteStorage
from tests.crash import flows, ledger
from tests.support import wait_until  # noqa: F401 - re-exported for this package's tests

T = TypeVar("T")
WORKER = Path(__file__).with_name("worker.py")

LEASE = 1.0
HEARTBEAT = 0.2


class Worker:
    """An engine subprocess started from ``worker.py``."""

    def __init__(self, args: list[str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("ready "), f"worker did not start: {line!r}\n{self.stderr()}"
        self.pid = int(line.split()[1])
        assert self.pid == self.process.pid

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def kill(self) -> None:
        """SIGKILL the worker and reap it."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self, timeout: float = 20.0) -> int:
        """Close its stdin (it stops its engine and exits); return the exit code."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()


class Lab:
    """One database file, one ledger file, and the workers and engines using them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.db = str(tmp_path / "reflow.db")
        self.ledger = str(tmp_path / "ledger.db")
        ledger.create(self.ledger)
        self._workers: list[Worker] = []
        self._engines: list[Engine] = []
        self._storages: list[SQLiteStorage] = []

    def engine(self, **options: Any) -> Engine:
        """An engine in this process (not started) on the lab's database, with a short lease."""
        storage = SQLiteStorage(self.db, durability=options.pop("durability", "full"))
        self._storages.append(storage)
        options.setdefault("lease_duration", LEASE)
        options.setdefault("heartbeat_interval", HEARTBEAT)
        engine = create_engine(
            storage=storage,
            workflows=flows.build(self.ledger),
            hooks=flows.hooks(self.ledger),
            **options,
        )
        self._engines.append(engine)
        return engine

    def spawn(self, *args: str) -> Worker:
        """Start a worker process on the lab's database and wait until it is polling."""
        stderr = self.tmp_path / f"worker-{len(self._workers)}.stderr"
        worker = Worker(["--db", self.db, "--ledger", self.ledger, *args], stderr)
        self._workers.append(worker)
        return worker

    def entries(
        self, run_id: str | None = None, *, phase: str | None = None, step: str | None = None
    ) -> list[ledger.Entry]:
        """Ledger entries, filtered."""
        return [
            entry
            for entry in ledger.read(self.ledger)
            if (run_id is None or entry.run_id == run_id)
            and (phase is None or entry.phase == phase)
            and (step is None or entry.step == step)
        ]

    def started(self, run_id: str, step: str, pid: int) -> bool:
        """Whether the ledger shows ``step`` of the run started in process ``pid``."""
        return any(entry.pid == pid for entry in self.entries(run_id, phase="start", step=step))

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        for engine in self._engines:
            engine.stop(timeout=10)
        for storage in self._storages:
            storage.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def outputs_by_step(info: RunInfo) -> dict[str, Any]:
    """Each step's persisted output, by name."""
    return {step.name: step.output for step in info.steps}
