"""Fixtures for the chaos and fencing tests: a lab with a database, a ledger and workers.

``wait_until`` (from :mod:`tests.chaos.harness`) is the only way these tests
wait for an outcome: a condition polled against a deadline, never a bare sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reflow_actors import Engine, RunInfo, create_engine
from reflow_actors.storage import SQLiteStorage
from tests.chaos import flows, ledger
from tests.chaos.harness import Worker, wait_until

__all__ = ["LEASE", "Lab", "stored_rows", "wait_until"]

WORKER = Path(__file__).with_name("worker.py")
LEASE = 1.0
HEARTBEAT = 0.2


class Lab:
    """One database, one ledger, one errors file, a gate file, and the workers and engines."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = str(tmp_path / "reflow.db")
        self.ledger = str(tmp_path / "ledger.jsonl")
        self.errors = str(tmp_path / "errors.jsonl")
        self.gate = tmp_path / "gate"
        self.log = tmp_path / "workers.log"
        ledger.create(self.ledger)
        ledger.create(self.errors)
        self._workers: list[Worker] = []
        self._engines: list[Engine] = []
        self._storages: list[SQLiteStorage] = []

    def spawn(self, *args: str) -> Worker:
        """A ready worker process that logs its fenced writes, with a 1 s lease."""
        base = [
            "--db", self.db, "--ledger", self.ledger, "--errors", self.errors,
            "--lease", str(LEASE), "--heartbeat", str(HEARTBEAT), "--record-writes",
        ]  # fmt: skip
        worker = Worker(WORKER, [*base, *args], self.log)
        self._workers.append(worker)
        return worker.wait_ready()

    def engine(self, **options: Any) -> Engine:
        """An engine in this process (not started) on the lab's database, with a 1 s lease."""
        storage = SQLiteStorage(self.db)
        self._storages.append(storage)
        options.setdefault("lease_duration", LEASE)
        options.setdefault("heartbeat_interval", HEARTBEAT)
        engine = create_engine(
            storage=storage,
            workflows=flows.build(self.ledger),
            hooks=flows.hooks(self.ledger, self.errors),
            **options,
        )
        self._engines.append(engine)
        return engine

    def entries(
        self,
        run: str | None = None,
        *,
        phase: str | None = None,
        step: str | None = None,
        pid: int | None = None,
    ) -> list[ledger.Entry]:
        """Ledger entries, filtered."""
        found, torn = ledger.read(self.ledger)
        assert torn == 0, "a ledger append was torn"
        return [
            entry
            for entry in found
            if (run is None or entry.run == run)
            and (phase is None or entry.phase == phase)
            and (step is None or entry.step == step)
            and (pid is None or entry.pid == pid)
        ]

    def mark(self, note: str) -> int:
        """Append a ``mark`` entry (from this process) and return its position."""
        ledger.append(self.ledger, "-", note, 0, "mark")
        (entry,) = self.entries(phase="mark", step=note)
        return entry.seq

    def errors_reported(self) -> list[ledger.Entry]:
        """Every error a worker or engine passed to ``on_error``."""
        found, _ = ledger.read(self.errors)
        return found

    def worker_log(self) -> str:
        """Everything the workers wrote to stderr."""
        return self.log.read_text() if self.log.exists() else ""

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        for engine in self._engines:
            engine.stop(timeout=10)
        for storage in self._storages:
            storage.close()
        ledger.close_all()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def stored_rows(info: RunInfo) -> list[tuple[Any, ...]]:
    """Everything storage holds for a run's steps, for before/after comparisons."""
    return [
        (step.name, step.status, step.output, step.error, step.attempts, step.updated_at)
        for step in info.steps
    ]
