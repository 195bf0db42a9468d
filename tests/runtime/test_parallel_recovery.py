"""Parallel groups across recoveries and control aborts: a completed branch never runs
again (after a ``kill -9`` and reclaim, after ``resume`` of a run that failed in a
sibling, after ``stop``), replayed branches emit no events, a fully completed group
is skipped, and cancel / stop / lost lease halt a group without writing failures
(reflow-ts PG-12..PG-17; API.md "Leases and crash recovery", "Parallel branches").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from reflow_actors import create_workflow
from reflow_actors.errors import EngineStoppedError, LeaseExpiredError, RunCancelledError
from reflow_actors.records import StepResult, StepStatus

from .conftest import DelegatingStorage, Recorder, wait_until

CHILD = """
import sys, time
from reflow_actors import create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

log = open(sys.argv[2], "a", buffering=1)

def a(ctx):
    log.write("a\\n")
    return {"from": "child-a"}

def b(ctx):
    log.write("b\\n")
    while True:
        time.sleep(0.05)

wf = create_workflow("crashy").parallel({"a": a, "b": b}).step("after", lambda ctx: ctx.prev)
engine = create_engine(storage=SQLiteStorage(sys.argv[1]), workflows=[wf],
                       lease_duration=0.5, heartbeat_interval=0.1)
run = engine.enqueue(wf, None)
print(run.id, flush=True)
engine.tick()
"""


@pytest.mark.timeout(30)
def test_a_completed_branch_never_runs_again_after_a_kill_and_reclaim(rt, tmp_path):
    db = rt.db_path()
    log = tmp_path / "child.log"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    child = subprocess.Popen(
        [sys.executable, str(script), str(db), str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = child.stdout.readline().strip()
        observer = rt.sqlite()

        def a_done_and_b_started():
            rows = {row.name: row for row in observer.get_step_results(run_id)}
            return (
                "a" in rows
                and rows["a"].status == "completed"
                and log.exists()
                and "b" in log.read_text().split()
            )

        wait_until(a_done_and_b_started, timeout=15, message="child's branch a to be saved")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        child.stdout.close()

    calls: list[str] = []
    recorder = Recorder()

    def a(ctx):
        calls.append("a")
        return {"from": "parent-a"}

    def b(ctx):
        calls.append("b")
        return {"from": "parent-b", "attempt": ctx.attempt}

    wf = create_workflow("crashy").parallel({"a": a, "b": b}).step("after", lambda ctx: ctx.prev)
    engine = rt.engine(rt.sqlite(), [wf], lease_duration=0.5, hooks=recorder.hooks())
    wait_until(lambda: engine.tick() == 1, timeout=10, message="the stale run to be reclaimed")

    info = engine.get_run_status(run_id)
    assert info.run.status == "completed"
    assert calls == ["b"]
    assert sorted(log.read_text().split()) == ["a", "b"]  # the child ran each once
    assert info.step("a").output == {"from": "child-a"}
    assert info.step("a").attempts == 1
    assert info.step("b").attempts == 2  # the child's attempt 1 counts
    assert info.step("after").output == {
        "a": {"from": "child-a"},
        "b": {"from": "parent-b", "attempt": 2},
    }
    assert [row.name for row in info.steps].count("a") == 1
    started = [e.step_name for e in recorder.of("step_start")]
    assert started == ["b", "after"]


@pytest.mark.timeout(10)
def test_resume_after_a_sibling_failed_does_not_rerun_the_completed_branch(rt):
    calls = {"a": 0, "b": 0}
    broken = {"b": True}

    def a(ctx):
        calls["a"] += 1
        return {"a": calls["a"]}

    def a_saved(run_id: str) -> bool:
        row = {r.name: r for r in storage.get_step_results(run_id)}.get("a")
        return row is not None and row.status == "completed"

    def b(ctx):
        calls["b"] += 1
        wait_until(lambda: a_saved(ctx.run_id), timeout=3)  # a is saved before b decides
        if broken["b"]:
            raise RuntimeError("b is down")
        return {"b": "fixed"}

    wf = create_workflow("resume-group").parallel({"a": a, "b": b}).step("after", lambda c: c.prev)
    recorder = Recorder()
    storage = rt.memory()
    engine = rt.engine(storage, [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("a").status == "completed"

    broken["b"] = False
    recorder.events.clear()
    assert engine.resume(run.id) is True
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert calls == {"a": 1, "b": 2}
    assert info.step("after").output == {"a": {"a": 1}, "b": {"b": "fixed"}}
    assert recorder.pairs() == [
        ("run_start", None),
        ("step_start", "b"),
        ("step_complete", "b"),
        ("step_start", "after"),
        ("step_complete", "after"),
        ("run_complete", None),
    ]


def _seed(storage, run_id: str, **outputs: Any) -> None:
    for name, output in outputs.items():
        storage.save_step_result(
            StepResult(name, StepStatus.COMPLETED, output, None, 1, run_id=run_id)
        )


@pytest.mark.timeout(10)
def test_only_missing_branches_run_and_cached_outputs_are_merged(rt):
    calls: list[str] = []
    seen: dict[str, Any] = {}

    def branch(name: str):
        def handler(ctx):
            calls.append(name)
            return {f"from_{name}": "fresh"}

        return handler

    def after(ctx):
        seen["prev"] = ctx.prev
        seen["steps_a"] = ctx.steps["a"]
        return "ok"

    wf = (
        create_workflow("partial")
        .parallel({"a": branch("a"), "b": branch("b")})
        .step("after", after)
    )
    storage = rt.memory()
    recorder = Recorder()
    engine = rt.engine(storage, [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    _seed(storage, run.id, a={"from_a": "cached"})
    engine.tick()
    assert calls == ["b"]
    assert seen["prev"] == {"a": {"from_a": "cached"}, "b": {"from_b": "fresh"}}
    assert seen["steps_a"] == {"from_a": "cached"}
    assert next((e.step_name, e.output) for e in recorder.of("step_complete")) == (
        "b",
        {"from_b": "fresh"},
    )
    assert [e.step_name for e in recorder.of("step_start")] == ["b", "after"]
    names = [row.name for row in engine.get_run_status(run.id).steps]
    assert sorted(names) == ["a", "after", "b"]


@pytest.mark.timeout(10)
def test_a_group_whose_branches_all_completed_is_skipped(rt):
    calls: list[str] = []
    seen: dict[str, Any] = {}

    def after(ctx):
        seen["prev"] = ctx.prev
        return "ok"

    wf = (
        create_workflow("all-cached")
        .parallel({"a": lambda c: calls.append("a"), "b": lambda c: calls.append("b")})
        .step("after", after)
    )
    storage = rt.memory()
    recorder = Recorder()
    engine = rt.engine(storage, [wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    _seed(storage, run.id, a={"fromA": "cached"}, b={"fromB": "cached"})
    engine.tick()
    assert calls == []
    assert seen["prev"] == {"a": {"fromA": "cached"}, "b": {"fromB": "cached"}}
    assert recorder.pairs() == [
        ("run_start", None),
        ("step_start", "after"),
        ("step_complete", "after"),
        ("run_complete", None),
    ]
    assert engine.get_run_status(run.id).run.status == "completed"


def _blocking_group(reasons: dict[str, Any], started: set[str]):
    def branch(name: str):
        def handler(ctx):
            started.add(name)
            ctx.signal.wait(10)
            reasons[name] = ctx.signal.reason
            return "late"

        return handler

    branches = {"slow": branch("slow"), "slower": branch("slower")}
    return create_workflow("halt-group").parallel(branches)


def _no_failed_rows(info) -> bool:
    return all(row.status != "failed" for row in info.steps)


@pytest.mark.timeout(10)
def test_cancel_during_a_group_aborts_every_branch_and_writes_no_failures(rt):
    reasons: dict[str, Any] = {}
    started: set[str] = set()
    recorder = Recorder()
    engine = rt.engine(rt.memory(), [_blocking_group(reasons, started)], hooks=recorder.hooks())
    run = engine.enqueue("halt-group", None)
    tick = rt.bg(engine.tick)
    wait_until(lambda: len(started) == 2, message="both branches to start")
    assert engine.cancel(run.id) is True
    tick.result(timeout=3)
    wait_until(lambda: len(reasons) == 2)
    assert all(isinstance(reason, RunCancelledError) for reason in reasons.values())
    info = engine.get_run_status(run.id)
    assert info.run.status == "cancelled"
    assert _no_failed_rows(info)
    assert recorder.of("run_failed") == []


@pytest.mark.timeout(10)
def test_stop_during_a_group_leaves_the_run_running_and_a_reclaim_skips_done_branches(rt):
    calls = {"a": 0, "b": 0}
    reasons: list[Any] = []
    b_may_finish = threading.Event()

    def a(ctx):
        calls["a"] += 1
        return "a"

    def b(ctx):
        calls["b"] += 1
        if calls["b"] == 1:
            ctx.signal.wait(10)
            reasons.append(ctx.signal.reason)
            return "late b"
        b_may_finish.set()
        return "b"

    wf = create_workflow("stop-group").parallel({"a": a, "b": b})
    storage = rt.memory()
    engine = rt.engine(storage, [wf], lease_duration=0.3)
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)

    def a_saved():
        row = engine.get_run_status(run.id).step("a")
        return row is not None and row.status == "completed"

    wait_until(a_saved)
    wait_until(lambda: calls["b"] == 1)
    engine.stop(timeout=5)
    tick.result(timeout=3)
    wait_until(lambda: len(reasons) == 1)
    assert isinstance(reasons[0], EngineStoppedError)
    info = engine.get_run_status(run.id)
    assert info.run.status == "running"
    assert _no_failed_rows(info)
    assert info.step("b").status == "running"

    wait_until(lambda: engine.tick() == 1, message="the stopped run to be reclaimed")
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert calls == {"a": 1, "b": 2}
    assert info.step("b").output == "b"


@pytest.mark.timeout(10)
def test_a_lost_lease_during_a_group_halts_it_without_failures(rt):
    reasons: dict[str, Any] = {}
    started: set[str] = set()
    adapter = DelegatingStorage(rt.memory())
    recorder = Recorder()
    engine = rt.engine(
        adapter,
        [_blocking_group(reasons, started)],
        lease_duration=1,
        heartbeat_interval=0.05,
        hooks=recorder.hooks(),
    )
    run = engine.enqueue("halt-group", None)
    tick = rt.bg(engine.tick)
    wait_until(lambda: len(started) == 2, message="both branches to start")
    adapter.refuse_heartbeats = True
    tick.result(timeout=3)
    wait_until(lambda: len(reasons) == 2)
    assert all(isinstance(reason, LeaseExpiredError) for reason in reasons.values())
    info = engine.get_run_status(run.id)
    assert info.run.status == "running"
    assert _no_failed_rows(info)
    assert adapter.writes_after(adapter.first_refusal_at, run.id) == []
    assert recorder.of("run_failed") == []
