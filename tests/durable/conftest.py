"""Fixtures for the durable-time tests: a virtual clock, storages and engines always cleaned up.

Time is virtual here unless a test says otherwise: ``durable.clock`` is a frozen
:class:`~reflow_actors.VirtualClock` at a fixed UTC datetime, handed to every
storage and engine the harness builds, so a sleep of an hour or a schedule a
day away is reached with ``clock.advance(...)`` and no real waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from reflow_actors import (
    Engine,
    Event,
    RunInfo,
    RunStatus,
    StepResult,
    VirtualClock,
    Workflow,
    create_engine,
    create_workflow,
)
from reflow_actors.clock import Clock
from reflow_actors.storage import MemoryStorage, SQLiteStorage, StorageAdapter
from reflow_actors.stream import EventStream
from tests.support import wait_until  # noqa: F401 - re-exported for this package's tests

START = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
"""Where every virtual clock of these tests starts (a Tuesday, 08:00 UTC)."""

START_MS = int(START.timestamp() * 1000)
HOUR = 3600.0


def drain(stream: EventStream) -> list[Event]:
    """Every event the stream holds right now (without waiting for more)."""
    events: list[Event] = []
    while True:
        try:
            event = stream.get(timeout=0)
        except TimeoutError:
            return events
        if event is None:
            return events
        events.append(event)


def describe(events: Sequence[Event]) -> list[tuple[str, str | None]]:
    """Events as ``(type, step_name)`` pairs, easy to compare."""
    return [(event.type, getattr(event, "step_name", None)) for event in events]


def info_of(engine: Engine, run_id: str) -> RunInfo:
    """The run's status and rows; fails the test if the run does not exist."""
    info = engine.get_run_status(run_id)
    assert info is not None, f"run {run_id} not found"
    return info


def status_of(engine: Engine, run_id: str) -> RunStatus:
    """The run's status."""
    return info_of(engine, run_id).run.status


def row(info: RunInfo, name: str) -> StepResult:
    """The row of step ``name``; fails the test if there is none."""
    found = info.step(name)
    assert found is not None, f"no row for step {name!r}"
    return found


def output_of(engine: Engine, run_id: str, name: str) -> Any:
    """The recorded output of step ``name`` of the run."""
    return row(info_of(engine, run_id), name).output


def cooldown_workflow(
    calls: list[str], name: str = "cooldown-flow", sleep: Any = "1h", steps_seen: Any = None
) -> Workflow[Any, Any]:
    """``a`` → sleep ``cooldown`` → ``b``; each step appends its name to ``calls``."""

    def a(ctx: Any) -> Any:
        calls.append("a")
        return {"from": "a"}

    def b(ctx: Any) -> Any:
        calls.append("b")
        if steps_seen is not None:
            steps_seen.append(sorted(ctx.steps))
        return {"prev": ctx.prev}

    return create_workflow(name).step("a", a).sleep("cooldown", sleep).step("b", b)


class Durable:
    """Builds storages and engines on one virtual clock, and tears them all down."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = VirtualClock(START)
        self.tmp_path = tmp_path
        self._storages: list[StorageAdapter] = []
        self._engines: list[Engine] = []
        self._streams: list[EventStream] = []

    def memory(self, clock: Clock | None = None) -> MemoryStorage:
        storage = MemoryStorage(clock=clock or self.clock)
        self._storages.append(storage)
        return storage

    def sqlite(self, name: str = "durable.db", clock: Clock | None = None) -> SQLiteStorage:
        storage = SQLiteStorage(self.tmp_path / name, clock=clock or self.clock)
        self._storages.append(storage)
        return storage

    def storage(self, kind: str) -> StorageAdapter:
        return self.memory() if kind == "memory" else self.sqlite()

    def engine(
        self,
        storage: StorageAdapter | Intercepting,
        workflows: Sequence[Workflow[Any, Any]],
        **options: Any,
    ) -> Engine:
        options.setdefault("clock", self.clock)
        adapter = cast(StorageAdapter, storage)  # Intercepting forwards every method
        engine = create_engine(storage=adapter, workflows=workflows, **options)
        self._engines.append(engine)
        return engine

    def stream(self, engine: Engine, buffer_size: int | None = None) -> EventStream:
        stream = engine.stream(buffer_size)
        self._streams.append(stream)
        return stream

    def close(self) -> None:
        for engine in self._engines:
            engine.stop(timeout=10)
        for stream in self._streams:
            stream.close()
        for storage in self._storages:
            storage.close()


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Durable]:
    """The harness: ``durable.clock``, ``.memory()``, ``.sqlite()``, ``.engine(...)``."""
    harness = Durable(tmp_path)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(params=["memory", "sqlite"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    """Run a test on MemoryStorage and on SQLiteStorage."""
    return str(request.param)


_PROTOCOL = (
    "initialize",
    "create_run",
    "claim_next_run",
    "heartbeat_run",
    "get_run",
    "get_step_results",
    "save_step_result",
    "update_run_status",
    "update_claimed_run_status",
    "sleep_run",
    "wait_run",
    "deliver_event",
    "take_event",
    "list_runs",
    "requeue_run",
    "upsert_schedule",
    "claim_due_schedule",
    "delete_schedule",
    "list_schedules",
    "close",
)
_FAST_PATHS = ("claim_runs", "save_progress", "cancel_run", "consume_event", "subscribe_wakeups")


class Intercepting:
    """A storage adapter that forwards every method to ``inner``, with test hooks.

    ``around[name] = fn`` makes a call of ``name`` run ``fn(call, *args, **kwargs)``
    instead, where ``call`` is the real method: a test can do something just
    before or after a real storage operation (steal a lease, deliver an event)
    or make it raise. Nothing is faked unless the test's ``fn`` fakes it.

    Build it with :func:`intercept`, which decides whether the engine sees the
    adapter's optional fast paths (``consume_event``, ...) or only the Protocol.
    """

    def __init__(self, inner: StorageAdapter) -> None:
        self.inner = inner
        self.around: dict[str, Callable[..., Any]] = {}


def _forward(name: str) -> Callable[..., Any]:
    def method(self: Intercepting, *args: Any, **kwargs: Any) -> Any:
        call = getattr(self.inner, name)
        around = self.around.get(name)
        if around is None:
            return call(*args, **kwargs)
        return around(call, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _PROTOCOL:
    setattr(Intercepting, _name, _forward(_name))


def intercept(inner: StorageAdapter, *, fast_paths: bool = True) -> Intercepting:
    """Wrap ``inner``; with ``fast_paths`` it also forwards the optional methods it has."""
    if not fast_paths:
        return Intercepting(inner)
    names = [name for name in _FAST_PATHS if callable(getattr(inner, name, None))]
    cls = type("InterceptingFast", (Intercepting,), {name: _forward(name) for name in names})
    return cls(inner)  # type: ignore[no-any-return]
