"""Fixtures and helpers for the engine tests: a harness that always cleans up.

``harness`` builds storages and engines for a test and, at teardown, stops every
engine, closes every storage, and checks that no engine thread was left alive.
``wait_until`` waits on a condition with a deadline instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from reflow_actors import Engine, Hooks, VirtualClock, create_engine
from reflow_actors.storage import MemoryStorage, SQLiteStorage
from tests.support import wait_until

T = TypeVar("T")

START = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)

_ENGINE_THREADS = (
    "StepActor",
    "RunSupervisor",
    "ParallelBranch",
    "Dispatcher",
    "Heartbeat",
    "reflow-timers",
    "reflow-aio",
)


def _engine_threads() -> set[threading.Thread]:
    return {
        thread
        for thread in threading.enumerate()
        if thread.is_alive() and thread.name.startswith(_ENGINE_THREADS)
    }


class ProbeClock(VirtualClock):
    """A frozen ``VirtualClock`` that remembers the deadlines the engine waits for.

    The engine's timer thread asks ``real_delay(deadline)`` for its earliest
    pending deadline; a test reads :meth:`pending` to know how far to move the
    clock for the next timer (a retry delay) to fire.
    """

    def __init__(self, start: datetime | float | None = START) -> None:
        super().__init__(start)
        self._seen: set[float] = set()
        self._seen_lock = threading.Lock()

    def real_delay(self, deadline: float) -> float | None:
        with self._seen_lock:
            self._seen.add(deadline)
        return super().real_delay(deadline)

    def pending(self, within: float = 100.0) -> float | None:
        """Seconds until the nearest deadline due within ``within`` s, if any."""
        now = self.monotonic()
        with self._seen_lock:
            ahead = [d - now for d in self._seen if now < d <= now + within]
        return min(ahead, default=None)


class Harness:
    """Builds storages and engines for one test and tears all of them down."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._engines: list[Engine] = []
        self._storages: list[Any] = []
        self._executor: ThreadPoolExecutor | None = None

    def memory(self, clock: VirtualClock | None = None) -> MemoryStorage:
        storage = MemoryStorage(clock=clock)
        self._storages.append(storage)
        return storage

    def sqlite(
        self, name: str = "reflow.db", *, initialize: bool = True, **options: Any
    ) -> SQLiteStorage:
        storage = SQLiteStorage(self.tmp_path / name, **options)
        if initialize:
            storage.initialize()
        self._storages.append(storage)
        return storage

    def engine(self, workflows: Any = (), *, storage: Any = None, **options: Any) -> Engine:
        if storage is None:
            storage = self.memory(options.get("clock"))
        engine = create_engine(storage=storage, workflows=workflows, **options)
        self._engines.append(engine)
        return engine

    def background(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``function`` on a helper thread (e.g. a blocking ``tick()``)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="test-bg")
        return self._executor.submit(function, *args, **kwargs)

    def close(self) -> None:
        for engine in reversed(self._engines):
            engine.stop(timeout=5)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        for storage in self._storages:
            storage.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    before = _engine_threads()
    rig = Harness(tmp_path)
    try:
        yield rig
    finally:
        rig.close()
    wait_until(
        lambda: not (_engine_threads() - before),
        timeout=5.0,
        message="engine threads left alive after stop()",
    )


@pytest.fixture
def clock() -> VirtualClock:
    """A frozen virtual clock; pass it to both the storage and the engine."""
    return VirtualClock(START)


class Recorder:
    """Collects lifecycle events (and ``on_error`` reports) from hooks, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Any] = []
        self.errors: list[BaseException] = []

    def _event(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def _error(self, error: BaseException) -> None:
        with self._lock:
            self.errors.append(error)

    def hooks(self, **overrides: Any) -> Hooks:
        options: dict[str, Any] = {
            "on_run_start": self._event,
            "on_step_start": self._event,
            "on_step_skipped": self._event,
            "on_step_complete": self._event,
            "on_run_complete": self._event,
            "on_run_failed": self._event,
            "on_error": self._error,
        }
        options.update(overrides)
        return Hooks(**options)

    def types(self, run_id: str | None = None) -> list[tuple[str, str | None]]:
        """``(type, step_name)`` of each event, optionally of one run."""
        with self._lock:
            events = list(self.events)
        return [
            (event.type, getattr(event, "step_name", None))
            for event in events
            if run_id is None or event.run_id == run_id
        ]

    def of_type(self, event_type: str) -> list[Any]:
        with self._lock:
            return [event for event in self.events if event.type == event_type]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
