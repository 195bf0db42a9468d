"""``copy_storage``: runs move from SQLite (or any adapter) to PostgreSQL and finish there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from reflow_actors import RunStatus, VirtualClock, Workflow, create_engine, create_workflow
from reflow_actors.records import TakenEvent
from reflow_actors.storage import MemoryStorage, SQLiteStorage, StorageAdapter
from reflow_actors.storage.postgres import PostgresStorage, copy_storage

pytestmark = [pytest.mark.postgres]

START = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
HOUR = 3600.0


def _workflows(calls: list[str]) -> list[Workflow[Any, Any]]:
    def step(name: str) -> Callable[[Any], Any]:
        def handler(ctx: Any) -> Any:
            calls.append(f"{ctx.input['tag']}:{name}")
            if name == "b" and ctx.input.get("fail"):
                raise ValueError("boom")
            return {"step": name, "at": START}

        return handler

    plain = create_workflow("plain").step("a", step("a")).step("b", step("b"))
    napping = (
        create_workflow("napping").step("a", step("a")).sleep("nap", "1h").step("b", step("b"))
    )
    approval = (
        create_workflow("approval")
        .step("a", step("a"))
        .wait_for_event("approved")
        .step("b", lambda ctx: {"approved": ctx.prev})
    )
    return [plain, napping, approval]


class Source:
    """A source storage with one run in each interesting state, made by a real engine."""

    def __init__(self, storage: StorageAdapter, clock: VirtualClock) -> None:
        self.storage = storage
        self.calls: list[str] = []
        self.engine = create_engine(storage=storage, workflows=_workflows(self.calls), clock=clock)
        engine = self.engine
        self.ids = {
            "completed": engine.enqueue("plain", {"tag": "completed"}).id,
            "failed": engine.enqueue("plain", {"tag": "failed", "fail": True}).id,
            "sleeping": engine.enqueue("napping", {"tag": "sleeping"}).id,
            "waiting": engine.enqueue("approval", {"tag": "waiting"}).id,
        }
        while engine.tick():
            pass
        # Enqueued last and never started, with its event already buffered.
        self.ids["early"] = engine.enqueue("approval", {"tag": "early"}, idempotency_key="k1").id
        assert engine.send_event(self.ids["early"], "approved", {"by": "ada", "at": START})
        engine.schedule("plain", {"tag": "scheduled"}, every="1h", key="hourly")

    def close(self) -> None:
        self.engine.stop(timeout=10)
        self.storage.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def sqlite_source(tmp_path: Path, clock: VirtualClock) -> Iterator[Source]:
    source = Source(SQLiteStorage(tmp_path / "reflow.db", clock=clock), clock)
    yield source
    source.close()


def _snapshot(storage: StorageAdapter) -> tuple[Any, ...]:
    runs = storage.list_runs(limit=1_000)
    steps = {run.id: storage.get_step_results(run.id) for run in runs}
    return runs, steps, storage.list_schedules()


@pytest.mark.timeout(60)
def test_runs_steps_events_and_schedules_move_from_sqlite_and_finish_on_postgres(
    sqlite_source: Source, make_storage: Callable[..., PostgresStorage], clock: VirtualClock
) -> None:
    source = sqlite_source
    statuses = {name: source.storage.get_run(run_id).status for name, run_id in source.ids.items()}  # type: ignore[union-attr]
    assert statuses == {
        "completed": RunStatus.COMPLETED,
        "failed": RunStatus.FAILED,
        "sleeping": RunStatus.SLEEPING,
        "waiting": RunStatus.WAITING,
        "early": RunStatus.PENDING,
    }
    target = make_storage(clock=clock, initialize=False)

    report = copy_storage(source.storage, target, page_size=2)  # several pages

    assert (report.runs, report.runs_skipped, report.events, report.schedules) == (5, 0, 1, 1)
    assert report.steps == sum(len(source.storage.get_step_results(i)) for i in source.ids.values())
    assert report.exact is True
    assert _snapshot(target) == _snapshot(source.storage)  # records equal, field by field

    again = copy_storage(source.storage, target)
    assert (again.runs, again.runs_skipped, again.schedules_skipped) == (0, 5, 1)
    assert _snapshot(target) == _snapshot(source.storage)

    # The copied runs carry on under an engine on PostgreSQL.
    calls: list[str] = []
    engine = create_engine(storage=target, workflows=_workflows(calls), clock=clock)
    try:
        assert (
            engine.enqueue("approval", {"tag": "early"}, idempotency_key="k1").id
            == source.ids["early"]
        )
        while engine.tick():
            pass
        early = engine.wait(source.ids["early"], timeout=5)  # consumed the copied buffered event
        assert early.run.status is RunStatus.COMPLETED
        assert early.step("b").output == {"approved": {"by": "ada", "at": START}}  # type: ignore[union-attr]
        assert engine.get_run_status(source.ids["sleeping"]).run.status is RunStatus.SLEEPING  # type: ignore[union-attr]

        assert engine.send_event(source.ids["waiting"], "approved", {"by": "bob"})
        clock.advance(HOUR)  # the nap is over (its exact wake time came along) and "hourly" is due
        while engine.tick():
            pass
        for name in ("waiting", "sleeping"):
            assert engine.wait(source.ids[name], timeout=5).run.status is RunStatus.COMPLETED
        scheduled = [
            run for run in engine.list_runs(workflow="plain") if run.input["tag"] == "scheduled"
        ]
        assert len(scheduled) == 1
        assert engine.resume(source.ids["failed"]) is True
    finally:
        engine.stop(timeout=10)
    # Steps that completed before the copy never ran again after it.
    assert "sleeping:a" not in calls
    assert "waiting:a" not in calls
    assert "completed:a" not in calls
    assert sorted(calls) == ["early:a", "scheduled:a", "scheduled:b", "sleeping:b"]


@pytest.mark.timeout(60)
def test_from_another_adapter_suspended_runs_are_rechecked_at_once_and_sleep_again(
    make_storage: Callable[..., PostgresStorage], clock: VirtualClock
) -> None:
    source = Source(MemoryStorage(clock=clock), clock)
    try:
        target = make_storage(clock=clock)
        report = copy_storage(source.storage, target)
        assert (report.runs, report.events, report.exact) == (5, 0, False)
        calls: list[str] = []
        engine = create_engine(
            storage=target, workflows=_workflows(calls), clock=clock, concurrency=5
        )
        try:
            claimed = engine.tick()
            # The sleeping and waiting runs (wake time unknown: "now") and the pending one.
            assert claimed == 3
            sleeping = engine.get_run_status(source.ids["sleeping"])
            assert sleeping is not None
            assert sleeping.run.status is RunStatus.SLEEPING
            nap = sleeping.step("nap")
            assert nap is not None
            assert nap.output == int(START.timestamp() * 1000) + 3_600_000
            waiting = engine.get_run_status(source.ids["waiting"])
            assert waiting is not None
            assert waiting.run.status is RunStatus.WAITING
            assert calls == ["early:a"]  # nothing that had completed ran again
        finally:
            engine.stop(timeout=10)
        assert target.take_event(source.ids["early"], "approved") is None
    finally:
        source.close()


def test_copy_keeps_event_order_and_payloads(
    tmp_path: Path, make_storage: Callable[..., PostgresStorage], clock: VirtualClock
) -> None:
    sqlite = SQLiteStorage(tmp_path / "events.db", clock=clock)
    try:
        sqlite.initialize()
        engine = create_engine(storage=sqlite, workflows=_workflows([]), clock=clock)
        run = engine.enqueue("approval", {"tag": "x"})
        for index in range(5):
            sqlite.deliver_event(run.id, "approved", {"n": index})
        sqlite.deliver_event(run.id, "other", None)
        target = make_storage(clock=clock)
        assert copy_storage(sqlite, target).events == 6
        taken = [target.take_event(run.id, "approved") for _ in range(6)]
        assert taken == [TakenEvent({"n": index}) for index in range(5)] + [None]
        assert target.take_event(run.id, "other") == TakenEvent(None)
    finally:
        sqlite.close()
