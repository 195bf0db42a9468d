"""Shared helpers for the runtime tests.

* :func:`wait_until` / :func:`stays_false`: condition waits with deadlines (no
  sleep-and-hope), the second for negative claims over a bounded window.
* :class:`Harness` (fixture ``rt``): makes storages and engines and guarantees
  teardown in the right order: release gates, stop engines, join background
  calls, close storages.
* :class:`Recorder`: hooks that record every event they receive.
* :class:`DelegatingStorage`: a user adapter that implements only the
  ``StorageAdapter`` Protocol by delegating to a real adapter (no optional fast
  paths), with switches to refuse heartbeats and a log of write calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from reflow_actors import Hooks, create_engine
from reflow_actors.engine import Engine
from reflow_actors.records import RunStatus, StepResult, WorkflowRun, WorkflowSchedule
from reflow_actors.storage import MemoryStorage, SQLiteStorage
from tests.support import wait_until  # noqa: F401 - re-exported for this package's tests

# --- waiting ------------------------------------------------------------------------


def stays_false(
    predicate: Callable[[], Any], duration: float, interval: float = 0.005, message: str = ""
) -> None:
    """Assert ``predicate`` stays falsy for ``duration`` seconds (a bounded negative check)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        assert not predicate(), message or "the condition became true"
        time.sleep(interval)
    assert not predicate(), message or "the condition became true"


class Background:
    """A call running on its own thread; its result or exception is kept for the test."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "test-background") -> None:
        self._fn = fn
        self._args = args
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as error:  # kept and re-raised in result()
            self._error = error
        finally:
            self.finished_at = time.monotonic()
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float = 5.0) -> Any:
        """The call's return value; AssertionError if it has not returned within ``timeout``."""
        if not self._done.wait(timeout):
            raise AssertionError(f"the background call did not return within {timeout}s")
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._value


# --- events ---------------------------------------------------------------------------


class Recorder:
    """Hooks that append every event (and every ``on_error`` error) to lists."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[Any] = []
        self.errors: list[BaseException] = []

    def _record(self, event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def _error(self, error: BaseException) -> None:
        with self.lock:
            self.errors.append(error)

    def hooks(self, **overrides: Any) -> Hooks:
        options: dict[str, Any] = {
            "on_run_start": self._record,
            "on_step_start": self._record,
            "on_step_skipped": self._record,
            "on_step_complete": self._record,
            "on_run_complete": self._record,
            "on_run_failed": self._record,
            "on_error": self._error,
        }
        options.update(overrides)
        return Hooks(**options)

    def of(self, type_: str) -> list[Any]:
        with self.lock:
            return [event for event in self.events if event.type == type_]

    def types(self, run_id: str | None = None) -> list[str]:
        with self.lock:
            return [e.type for e in self.events if run_id is None or e.run_id == run_id]

    def pairs(self) -> list[tuple[str, str | None]]:
        with self.lock:
            return [(e.type, getattr(e, "step_name", None)) for e in self.events]


def drain(stream: Any) -> list[Any]:
    """Every event the stream holds right now (without waiting)."""
    events = []
    while True:
        try:
            event = stream.get(timeout=0)
        except TimeoutError:
            return events
        if event is None:
            return events
        events.append(event)


# --- a Protocol-only user adapter -------------------------------------------------------

WRITES = frozenset(
    {
        "create_run",
        "save_step_result",
        "update_run_status",
        "update_claimed_run_status",
        "sleep_run",
        "wait_run",
        "deliver_event",
        "take_event",
        "requeue_run",
    }
)


class DelegatingStorage:
    """A user adapter: every ``StorageAdapter`` method, delegated; nothing optional.

    ``refuse_heartbeats`` makes ``heartbeat_run`` answer ``False`` (the lease is
    gone). ``calls`` logs ``(monotonic time, method, run id)`` of every write.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.refuse_heartbeats = False
        self.heartbeats_refused = 0
        self.first_refusal_at: float | None = None
        self._lock = threading.Lock()
        self.calls: list[tuple[float, str, str | None]] = []

    def _log(self, method: str, run_id: str | None) -> None:
        with self._lock:
            self.calls.append((time.monotonic(), method, run_id))

    def writes_after(self, moment: float, run_id: str) -> list[str]:
        with self._lock:
            return [m for t, m, r in self.calls if t >= moment and r == run_id and m in WRITES]

    def initialize(self) -> None:
        self._inner.initialize()

    def create_run(self, run: WorkflowRun) -> Any:
        self._log("create_run", run.id)
        return self._inner.create_run(run)

    def claim_next_run(
        self, workflow_names: Sequence[str], stale_before: int | None = None
    ) -> WorkflowRun | None:
        return self._inner.claim_next_run(workflow_names, stale_before)

    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        if self.refuse_heartbeats:
            with self._lock:
                self.heartbeats_refused += 1
                if self.first_refusal_at is None:
                    self.first_refusal_at = time.monotonic()
            return False
        return bool(self._inner.heartbeat_run(run_id, lease_id))

    def get_run(self, run_id: str) -> WorkflowRun | None:
        return self._inner.get_run(run_id)

    def get_step_results(self, run_id: str) -> list[StepResult]:
        return self._inner.get_step_results(run_id)

    def save_step_result(self, result: StepResult, lease_id: str | None = None) -> bool:
        self._log("save_step_result", result.run_id)
        return bool(self._inner.save_step_result(result, lease_id))

    def update_run_status(self, run_id: str, status: RunStatus) -> bool:
        self._log("update_run_status", run_id)
        return bool(self._inner.update_run_status(run_id, status))

    def update_claimed_run_status(self, run_id: str, lease_id: str, status: RunStatus) -> bool:
        self._log("update_claimed_run_status", run_id)
        return bool(self._inner.update_claimed_run_status(run_id, lease_id, status))

    def sleep_run(self, run_id: str, lease_id: str, wake_at: int) -> bool:
        self._log("sleep_run", run_id)
        return bool(self._inner.sleep_run(run_id, lease_id, wake_at))

    def wait_run(self, run_id: str, lease_id: str, event_name: str, wake_at: int | None) -> bool:
        self._log("wait_run", run_id)
        return bool(self._inner.wait_run(run_id, lease_id, event_name, wake_at))

    def deliver_event(self, run_id: str, event_name: str, payload: Any) -> bool:
        self._log("deliver_event", run_id)
        return bool(self._inner.deliver_event(run_id, event_name, payload))

    def take_event(self, run_id: str, event_name: str) -> Any:
        self._log("take_event", run_id)
        return self._inner.take_event(run_id, event_name)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        before: int | None = None,
        before_id: str | None = None,
    ) -> list[WorkflowRun]:
        return self._inner.list_runs(
            status=status, workflow=workflow, limit=limit, before=before, before_id=before_id
        )

    def requeue_run(self, run_id: str) -> bool:
        self._log("requeue_run", run_id)
        return bool(self._inner.requeue_run(run_id))

    def upsert_schedule(self, schedule: WorkflowSchedule) -> WorkflowSchedule:
        return self._inner.upsert_schedule(schedule)

    def claim_due_schedule(self, workflow_names: Sequence[str], now: int) -> Any:
        return self._inner.claim_due_schedule(workflow_names, now)

    def delete_schedule(self, key: str) -> bool:
        return bool(self._inner.delete_schedule(key))

    def list_schedules(self) -> list[WorkflowSchedule]:
        return self._inner.list_schedules()

    def close(self) -> None:
        self._inner.close()


# --- the harness ----------------------------------------------------------------------


class Harness:
    """Makes storages, engines, gates and background calls, and cleans all of them up."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._storages: list[Any] = []
        self._engines: list[Engine] = []
        self._gates: list[threading.Event] = []
        self._background: list[Background] = []

    def memory(self, clock: Any = None) -> MemoryStorage:
        storage = MemoryStorage(clock=clock)
        self._storages.append(storage)
        return storage

    def db_path(self, name: str = "x.db") -> Path:
        return self.tmp_path / name

    def sqlite(self, name: str = "x.db", **options: Any) -> SQLiteStorage:
        storage = SQLiteStorage(self.tmp_path / name, **options)
        self._storages.append(storage)
        return storage

    def engine(self, storage: Any, workflows: Sequence[Any], **options: Any) -> Engine:
        engine = create_engine(storage=storage, workflows=workflows, **options)
        self._engines.append(engine)
        return engine

    def gate(self) -> threading.Event:
        """An event a handler blocks on; set at teardown so no handler outlives the test."""
        gate = threading.Event()
        self._gates.append(gate)
        return gate

    def bg(self, fn: Callable[..., Any], *args: Any) -> Background:
        call = Background(fn, *args)
        self._background.append(call)
        return call

    def close(self) -> None:
        for gate in self._gates:
            gate.set()
        for engine in self._engines:
            engine.stop(timeout=10)
        for call in self._background:
            call.thread.join(10)
        for storage in self._storages:
            storage.close()
        stuck = [call for call in self._background if call.thread.is_alive()]
        assert not stuck, "a background call was still running after teardown"


@pytest.fixture
def rt(tmp_path: Path) -> Any:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        harness.close()
