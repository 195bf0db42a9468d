"""Inspection and repair: ``get_run_status``, ``list_runs`` (keyset pages), ``resume``.

Covers the ``get_run_status``, ``list_runs`` and ``resume`` rows of API.md
"Engine" and reflow-ts §18 OB: the ``RunInfo`` shape, newest-first listing with
filters and a validated ``limit``, pagination by ``(created_at, id)`` that stays
exact when many runs share a ``created_at`` (on MemoryStorage and SQLite), and
``resume`` re-running only the failed step of a failed or cancelled run.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import RunInfo, StepResult, VirtualClock, WorkflowRun, create_workflow
from reflow_actors.errors import ConfigError, WorkflowNotFoundError
from reflow_actors.records import RunStatus, StepStatus

from .conftest import START

pytestmark = pytest.mark.timeout(10)

OK = create_workflow("ok").step("a", lambda ctx: {"doubled": ctx.input * 2})
BROKEN = create_workflow("broken").step("a", lambda ctx: 1 / 0)


def test_get_run_status_returns_the_run_and_its_steps(harness):
    wf = (
        create_workflow("status")
        .step("a", lambda ctx: {"doubled": ctx.input * 2})
        .step("b", lambda ctx: {"result": ctx.prev["doubled"] + 1})
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, 5)

    pending = engine.get_run_status(run.id)
    assert isinstance(pending, RunInfo)
    assert pending.run.status == RunStatus.PENDING
    assert pending.steps == []

    engine.tick()
    info = engine.get_run_status(run.id)
    assert isinstance(info.run, WorkflowRun)
    assert (info.run.id, info.run.workflow, info.run.status) == (run.id, "status", "completed")
    assert info.run.updated_at >= info.run.created_at
    assert all(isinstance(step, StepResult) for step in info.steps)
    assert [(s.name, s.status, s.output, s.error, s.attempts) for s in info.steps] == [
        ("a", "completed", {"doubled": 10}, None, 1),
        ("b", "completed", {"result": 11}, None, 1),
    ]
    for step in info.steps:
        assert isinstance(step.created_at, int)
        assert step.updated_at >= step.created_at


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_steps_come_back_in_creation_order_even_with_equal_timestamps(harness, backend):
    clock = VirtualClock(START)  # frozen: every row is stamped with the same time
    storage = harness.memory(clock) if backend == "memory" else harness.sqlite(clock=clock)
    names = ["zeta", "alpha", "mike", "bravo", "yankee", "charlie"]
    wf = create_workflow("ordered")
    for name in names:
        wf = wf.step(name, lambda ctx: ctx.step_name)
    engine = harness.engine([wf], storage=storage, clock=clock)
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert [s.name for s in info.steps] == names
    assert [s.output for s in info.steps] == names


def test_get_run_status_of_an_unknown_run_is_none(harness):
    assert harness.engine([OK]).get_run_status("00000000-0000-4000-8000-000000000000") is None


def test_list_runs_is_newest_first_and_filters_by_status_and_workflow(harness):
    clock = VirtualClock(START)
    engine = harness.engine([OK, BROKEN], clock=clock, concurrency=4)
    created = []
    for wf, value in [(OK, 1), (BROKEN, 2), (OK, 3), (BROKEN, 4), (OK, 5)]:
        created.append(engine.enqueue(wf, value))
        clock.advance(0.001)
    assert [run.id for run in engine.list_runs()] == [run.id for run in reversed(created)]

    engine.tick()
    engine.tick()
    pending_ok = engine.enqueue(OK, 6)

    failed = engine.list_runs(status="failed")
    assert [run.id for run in failed] == [created[3].id, created[1].id]
    assert all(run.status == RunStatus.FAILED for run in failed)
    assert [r.id for r in engine.list_runs(workflow="ok", status=RunStatus.COMPLETED)] == [
        created[4].id,
        created[2].id,
        created[0].id,
    ]
    assert [r.id for r in engine.list_runs(workflow="ok", status="pending")] == [pending_ok.id]
    assert engine.list_runs(workflow="nobody") == []


def test_list_runs_defaults_to_a_hundred_and_honours_limit(harness):
    engine = harness.engine([OK])
    for n in range(105):
        engine.enqueue(OK, n)
    assert len(engine.list_runs()) == 100
    assert len(engine.list_runs(limit=7)) == 7
    assert len(engine.list_runs(limit=500)) == 105


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", True, None])
def test_list_runs_limit_must_be_a_positive_int(harness, bad):
    with pytest.raises(ConfigError, match="limit"):
        harness.engine([OK]).list_runs(limit=bad)


def test_list_runs_rejects_an_unknown_status(harness):
    with pytest.raises(ConfigError):
        harness.engine([OK]).list_runs(status="finished")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_keyset_pagination_is_exact_when_runs_share_a_created_at(harness, backend):
    clock = VirtualClock(START)  # frozen: every run gets the same created_at...
    storage = harness.memory(clock) if backend == "memory" else harness.sqlite(clock=clock)
    engine = harness.engine([OK], storage=storage, clock=clock)
    runs = [engine.enqueue(OK, n) for n in range(7)]
    clock.advance(0.001)  # ...except a few newer ones
    runs += [engine.enqueue(OK, n) for n in range(7, 10)]

    expected = sorted(runs, key=lambda r: (r.created_at, r.id), reverse=True)
    pages: list[list[str]] = []
    page = engine.list_runs(limit=3)
    while page:
        pages.append([run.id for run in page])
        last = page[-1]
        page = engine.list_runs(limit=3, before=last.created_at, before_id=last.id)

    assert [run_id for p in pages for run_id in p] == [run.id for run in expected]
    assert [len(p) for p in pages] == [3, 3, 3, 1]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_before_alone_keeps_runs_strictly_older_than_that_time(harness, backend):
    clock = VirtualClock(START)
    storage = harness.memory(clock) if backend == "memory" else harness.sqlite(clock=clock)
    engine = harness.engine([OK], storage=storage, clock=clock)
    old = [engine.enqueue(OK, n) for n in range(2)]
    clock.advance(1)
    newer = engine.enqueue(OK, 9)
    listed = engine.list_runs(before=newer.created_at)
    assert {run.id for run in listed} == {run.id for run in old}


def test_resume_of_an_unknown_run_is_false(harness):
    assert harness.engine([OK]).resume("no-such-run") is False


def test_resume_of_a_run_whose_workflow_is_not_registered_raises_and_leaves_it(harness):
    storage = harness.memory()
    owner = harness.engine([BROKEN], storage=storage)
    run = owner.enqueue(BROKEN, None)
    owner.tick()
    before = owner.get_run_status(run.id)
    assert before.run.status == RunStatus.FAILED

    stranger = harness.engine([OK], storage=storage)
    with pytest.raises(WorkflowNotFoundError, match='"broken"'):
        stranger.resume(run.id)

    after = owner.get_run_status(run.id)
    assert after.run == before.run
    assert after.steps == before.steps


def test_resume_is_false_for_runs_that_are_not_failed_or_cancelled(harness):
    waits = create_workflow("waits").wait_for_event("go")
    engine = harness.engine([OK, waits], concurrency=2)
    done = engine.enqueue(OK, 1)
    waiting = engine.enqueue(waits, None)
    engine.tick()
    pending = engine.enqueue(OK, 2)
    assert engine.get_run_status(waiting.id).run.status == RunStatus.WAITING
    for run in (done, waiting, pending):
        status = engine.get_run_status(run.id).run.status
        assert engine.resume(run.id) is False
        assert engine.get_run_status(run.id).run.status == status


def test_resume_re_runs_only_the_failed_step_and_keeps_one_row_per_step(harness):
    calls: dict[str, int] = {"charge": 0, "ship": 0}
    lock = threading.Lock()

    def charge(ctx):
        with lock:
            calls["charge"] += 1
        return {"charge_id": "ch_1"}

    def ship(ctx):
        with lock:
            calls["ship"] += 1
            if calls["ship"] == 1:
                raise RuntimeError("carrier down")
        return {"tracking": f"TRK_{ctx.prev['charge_id']}"}

    wf = create_workflow("order").step("charge", charge).step("ship", ship)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).run.status == RunStatus.FAILED

    assert engine.resume(run.id) is True
    assert engine.get_run_status(run.id).run.status == RunStatus.PENDING
    engine.tick()

    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert calls == {"charge": 1, "ship": 2}
    assert [(s.name, s.status, s.output) for s in info.steps] == [
        ("charge", "completed", {"charge_id": "ch_1"}),
        ("ship", "completed", {"tracking": "TRK_ch_1"}),
    ]


def test_resume_requeues_a_cancelled_run(harness):
    engine = harness.engine([OK])
    run = engine.enqueue(OK, 4)
    assert engine.cancel(run.id) is True
    assert engine.tick() == 0
    assert engine.resume(run.id) is True
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert info.step("a").output == {"doubled": 8}


def test_a_resumed_run_starts_at_once_on_a_started_engine(harness):
    calls: list[int] = []

    def fails_first(ctx):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return "ok"

    wf = create_workflow("flaky-once").step("a", fails_first)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    engine.start(poll_interval=60)
    assert engine.tick() == 0  # the start's first poll has gone by
    assert engine.resume(run.id)
    info = engine.wait(run.id, timeout=2)
    assert info.run.status == RunStatus.COMPLETED
    assert [(s.name, s.status, s.output) for s in info.steps] == [("a", StepStatus.COMPLETED, "ok")]
    assert len(calls) == 2
