"""Fixtures for the bad-input catalogue: engines that always stop, and ways to look inside.

* ``bench``: makes storages (memory or a SQLite file) and engines, and at
  teardown releases every gate, stops every engine, closes every storage.
* ``wait_until``: waits on a condition with a deadline, never a bare sleep.
* ``table_counts``: what a SQLite file holds, read with the stdlib driver, so
  "nothing was written" is checked below the code under test.
* ``host``: a pykka actor of the host application's own, which must outlive
  anything user code does inside a step.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pykka
import pytest

from reflow_actors import Engine, Hooks, create_engine
from reflow_actors.storage import MemoryStorage, SQLiteStorage
from tests.support import wait_until  # noqa: F401 - re-exported for this package's tests

T = TypeVar("T")

TABLES = ("workflow_runs", "workflow_steps", "workflow_events", "workflow_schedules")


def table_counts(path: str | Path) -> dict[str, int]:
    """Rows per reflow table in the SQLite file at ``path`` (read-only, stdlib driver)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in TABLES
        }
    finally:
        connection.close()


class Errors:
    """An ``on_error`` hook that keeps what it is given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: list[BaseException] = []

    def __call__(self, error: BaseException) -> None:
        with self._lock:
            self.seen.append(error)

    def of(self, kind: type[BaseException]) -> list[BaseException]:
        with self._lock:
            return [error for error in self.seen if isinstance(error, kind)]


class Bench:
    """Storages and engines for one test, cleaned up in the right order."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.errors = Errors()
        self._gates: list[threading.Event] = []
        self._engines: list[Engine] = []
        self._storages: list[Any] = []

    def gate(self) -> threading.Event:
        """An event that handlers or hooks wait on; set at teardown whatever happens."""
        event = threading.Event()
        self._gates.append(event)
        return event

    def memory(self, **options: Any) -> MemoryStorage:
        storage = MemoryStorage(**options)
        self._storages.append(storage)
        return storage

    def sqlite(self, name: str = "reflow.db", **options: Any) -> SQLiteStorage:
        storage = SQLiteStorage(self.tmp_path / name, **options)
        self._storages.append(storage)
        return storage

    def storage(self, kind: str) -> Any:
        return self.memory() if kind == "memory" else self.sqlite()

    def engine(self, storage: Any, workflows: list[Any], **options: Any) -> Engine:
        """An engine whose ``on_error`` goes to ``self.errors`` unless hooks are given."""
        options.setdefault("hooks", Hooks(on_error=self.errors))
        engine = create_engine(storage=storage, workflows=workflows, **options)
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        for gate in self._gates:
            gate.set()
        for engine in self._engines:
            engine.stop(timeout=10)
        for storage in self._storages:
            storage.close()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    bench = Bench(tmp_path)
    try:
        yield bench
    finally:
        bench.close()


class HostActor(pykka.ThreadingActor):
    """Stands for an actor of the application that embeds the engine."""

    def on_receive(self, message: Any) -> Any:
        return "pong" if message == "ping" else None


@pytest.fixture
def host() -> Iterator[pykka.ActorRef[Any]]:
    ref = HostActor.start()
    try:
        yield ref
    finally:
        ref.stop()
