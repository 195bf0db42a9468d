"""Firing durable schedules (reflow-ts SC-3..SC-7, SC-10, SC-11, SC-13..SC-15), on a virtual clock.

A schedule never fires before it is due; once due, a tick creates one run
with the stored input (and can execute it in the same tick); schedules live in
storage, so a fresh engine fires them; however many engines tick, each
occurrence creates exactly one run; missed occurrences are skipped; engines
only fire schedules of workflows they register; a failing schedule is
reported to ``on_error`` while the others still fire.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from reflow_actors import Hooks, RunStatus, create_workflow
from reflow_actors.errors import StorageError
from reflow_actors.messages import Tick
from tests.durable.conftest import (
    HOUR,
    START_MS,
    Durable,
    info_of,
    intercept,
    row,
    status_of,
    wait_until,
)

CLEANUP = create_workflow("cleanup").step("purge", lambda ctx: {"purged": ctx.input})
REPORT = create_workflow("report").step("send", lambda ctx: "sent")


def _runs(engine: Any, workflow: str = "cleanup") -> list[Any]:
    return list(engine.list_runs(workflow=workflow))


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@pytest.mark.timeout(15)
def test_a_schedule_fires_only_once_due_with_its_stored_input(
    durable: Durable, storage_kind: str
) -> None:
    engine = durable.engine(durable.storage(storage_kind), [CLEANUP])
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h")
    assert engine.tick() == 0
    durable.clock.advance(HOUR - 0.001)
    assert engine.tick() == 0
    assert _runs(engine) == []

    durable.clock.advance(0.001)
    assert engine.tick() == 1  # created and executed in the same tick
    [run] = _runs(engine)
    assert run.input == {"older_than_days": 30}
    assert run.status is RunStatus.COMPLETED
    assert run.created_at == START_MS + 3_600_000
    info = info_of(engine, run.id)
    assert row(info, "purge").output == {"purged": {"older_than_days": 30}}
    [stored] = engine.list_schedules()
    assert stored.next_run_at == START_MS + 7_200_000


@pytest.mark.timeout(10)
def test_a_re_registered_input_is_what_the_next_occurrence_runs_with(durable: Durable) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h", key="k")
    engine.schedule(CLEANUP, {"older_than_days": 90}, every="1h", key="k")
    durable.clock.advance(HOUR)
    engine.tick()
    assert [run.input for run in _runs(engine)] == [{"older_than_days": 90}]


@pytest.mark.timeout(15)
def test_a_fresh_engine_on_a_reopened_file_fires_a_stored_schedule(durable: Durable) -> None:
    first_storage = durable.sqlite("schedules.db")
    first = durable.engine(first_storage, [CLEANUP])
    first.schedule(CLEANUP, {"older_than_days": 30}, every="1h")
    first.stop()
    first_storage.close()

    durable.clock.advance(HOUR)
    fresh = durable.engine(durable.sqlite("schedules.db"), [CLEANUP])  # never called schedule()
    assert fresh.tick() == 1
    assert [run.input for run in _runs(fresh)] == [{"older_than_days": 30}]


@pytest.mark.timeout(30)
def test_engines_ticking_together_create_one_run_per_occurrence(
    durable: Durable, storage_kind: str
) -> None:
    shared = durable.memory() if storage_kind == "memory" else None
    engines = [
        durable.engine(shared or durable.sqlite("shared.db"), [CLEANUP], concurrency=2)
        for _ in range(3)
    ]
    engines[0].schedule(CLEANUP, {"older_than_days": 1}, every="1h")
    for occurrence in range(1, 5):
        durable.clock.advance(HOUR)
        barrier = threading.Barrier(len(engines))

        def tick(engine: Any, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(5)
            engine.tick()

        threads = [threading.Thread(target=tick, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        runs = _runs(engines[0])
        assert len(runs) == occurrence
    assert sorted(run.created_at for run in runs) == [START_MS + k * 3_600_000 for k in range(1, 5)]


@pytest.mark.timeout(10)
def test_missed_occurrences_are_skipped_not_backfilled(durable: Durable) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h")
    durable.clock.advance(5 * HOUR)
    engine.tick()
    assert len(_runs(engine)) == 1
    [stored] = engine.list_schedules()
    assert stored.next_run_at == START_MS + 6 * 3_600_000
    engine.tick()
    assert len(_runs(engine)) == 1

    durable.clock.advance(HOUR)
    engine.tick()
    assert len(_runs(engine)) == 2


@pytest.mark.timeout(10)
def test_distinct_schedules_of_one_workflow_each_fire(durable: Durable) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP], concurrency=1)
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h")
    engine.schedule(CLEANUP, {"older_than_days": 90}, every="1h")
    engine.schedule(CLEANUP, {"older_than_days": 30}, cron="0 9 * * *")
    durable.clock.advance(HOUR)
    assert engine.tick() == 1  # one slot, but every due schedule fired in this tick
    inputs = sorted(run.input["older_than_days"] for run in _runs(engine))
    assert inputs == [30, 30, 90]


@pytest.mark.timeout(10)
def test_an_engine_leaves_schedules_of_workflows_it_does_not_register(durable: Durable) -> None:
    storage = durable.memory()
    cleanup_only = durable.engine(storage, [CLEANUP])
    both = durable.engine(storage, [CLEANUP, REPORT])
    both.schedule(REPORT, None, every="1h")
    durable.clock.advance(HOUR)

    assert cleanup_only.tick() == 0
    assert _runs(both, "report") == []
    [stored] = both.list_schedules()
    assert stored.next_run_at == START_MS + 3_600_000  # not claimed by the wrong engine
    assert both.tick() == 1
    assert len(_runs(both, "report")) == 1


@pytest.mark.timeout(10)
def test_an_unscheduled_schedule_fires_for_no_engine(durable: Durable) -> None:
    storage = durable.memory()
    engines = [durable.engine(storage, [CLEANUP]) for _ in range(2)]
    key = engines[0].schedule(CLEANUP, {"older_than_days": 30}, every="1h")
    assert engines[1].unschedule(key) is True
    durable.clock.advance(3 * HOUR)
    assert [engine.tick() for engine in engines] == [0, 0]
    assert _runs(engines[0]) == []


@pytest.mark.timeout(10)
def test_a_cron_schedule_fires_at_its_next_occurrence_not_by_a_fixed_gap(
    durable: Durable,
) -> None:
    engine = durable.engine(durable.memory(), [REPORT])  # Tue 2026-03-10 08:00 UTC
    engine.schedule(REPORT, None, cron="0 9 * * 1-5")
    durable.clock.set(datetime(2026, 3, 10, 8, 30, tzinfo=timezone.utc))
    engine.tick()
    assert _runs(engine, "report") == []
    durable.clock.set(datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc))
    engine.tick()
    assert len(_runs(engine, "report")) == 1

    durable.clock.set(datetime(2026, 3, 13, 9, 0, tzinfo=timezone.utc))  # Friday
    engine.tick()
    assert len(_runs(engine, "report")) == 2  # Wed and Thu were missed: skipped
    [stored] = engine.list_schedules()
    assert stored.next_run_at == _ms(datetime(2026, 3, 16, 9, 0, tzinfo=timezone.utc))  # Monday


@pytest.mark.timeout(10)
def test_a_failing_schedule_is_reported_and_the_others_still_fire(durable: Durable) -> None:
    errors: list[BaseException] = []
    inner = durable.memory()
    storage = intercept(inner)

    def refuse_cleanup(call: Any, run: Any) -> Any:
        if run.workflow == "cleanup":
            raise RuntimeError("disk full for cleanup")
        return call(run)

    storage.around["create_run"] = refuse_cleanup
    engine = durable.engine(
        storage,
        [CLEANUP, REPORT],
        hooks=Hooks(on_error=errors.append),
    )
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h", key="a-broken")
    engine.schedule(REPORT, None, every="1h", key="b-fine")
    durable.clock.advance(HOUR)
    engine.tick()

    assert [run.workflow for run in inner.list_runs()] == ["report"]
    wait_until(lambda: len(errors) == 1, message="on_error to hear of the failed firing")
    assert isinstance(errors[0], StorageError)
    assert "disk full for cleanup" in str(errors[0])
    broken = next(s for s in engine.list_schedules() if s.key == "a-broken")
    assert broken.next_run_at == START_MS + 7_200_000  # advanced: at most once per occurrence


@pytest.mark.timeout(10)
def test_runs_still_execute_while_the_scheduler_itself_fails(durable: Durable) -> None:
    errors: list[BaseException] = []
    storage = intercept(durable.memory())

    def broken(call: Any, *args: Any) -> Any:
        raise RuntimeError("schedule table is gone")

    storage.around["claim_due_schedule"] = broken
    engine = durable.engine(storage, [REPORT], hooks=Hooks(on_error=errors.append))
    engine.schedule(REPORT, None, every="1h")
    durable.clock.advance(HOUR)
    run = engine.enqueue(REPORT, None)
    assert engine.tick() == 1
    assert status_of(engine, run.id) is RunStatus.COMPLETED
    wait_until(lambda: len(errors) >= 1, message="on_error to hear of the scheduler failure")
    assert "schedule table is gone" in str(errors[0])


@pytest.mark.timeout(15)
def test_a_started_engine_fires_a_due_schedule_at_its_poll(durable: Durable) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h")
    engine.start(poll_interval=60)
    durable.clock.advance(HOUR)
    wait_until(lambda: len(_runs(engine)) == 1, message="the poll to fire the schedule")
    run = _runs(engine)[0]
    assert engine.wait(run.id, timeout=5).run.status is RunStatus.COMPLETED


@pytest.mark.timeout(10)
def test_a_tick_message_fires_due_schedules_like_engine_tick(durable: Durable) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h")
    durable.clock.advance(HOUR)
    assert engine.dispatcher.ask(Tick(), timeout=5) == 1
    wait_until(lambda: len(_runs(engine)) == 1, message="the scheduled run")


@pytest.mark.timeout(10)
def test_a_schedule_whose_input_holds_a_datetime_fires_with_that_input(durable: Durable) -> None:
    engine = durable.engine(durable.sqlite(), [CLEANUP])
    cutoff = datetime(2026, 1, 1, tzinfo=timezone.utc)
    engine.schedule(CLEANUP, {"before": cutoff}, every="1h")
    durable.clock.advance(HOUR)
    engine.tick()
    [run] = _runs(engine)
    assert run.input == {"before": cutoff}
    assert isinstance(run.input["before"], datetime)
