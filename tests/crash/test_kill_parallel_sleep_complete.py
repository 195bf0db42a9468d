"""SIGKILL a worker inside a parallel group, during a durable sleep, and after complete().

* Parallel: branches ``a`` and ``b`` are persisted, ``c`` is in flight at the
  kill. The recovering engine re-runs only ``c`` (attempt 2) and the merge
  sees the worker's ``a``/``b`` outputs.
* Sleep: the worker parks the run ``sleeping`` and dies; another engine
  resumes it only once the wake time has passed, without re-running the step
  before the sleep.
* ``complete()``: the worker dies inside the ``step_complete`` hook that
  follows the early completion; the run is already durably completed and the
  step after it never runs.
"""

from __future__ import annotations

import os

import pytest

from reflow_actors import StepStart
from tests.crash import flows
from tests.crash.conftest import Lab, outputs_by_step, wait_until


def starts(lab: Lab, run_id: str, step: str) -> list[tuple[int, int]]:
    return [(e.pid, e.attempt) for e in lab.entries(run_id, phase="start", step=step)]


def step_statuses(lab_engine, run_id: str) -> dict[str, str]:
    info = lab_engine.get_run_status(run_id)
    assert info is not None
    return {step.name: step.status for step in info.steps}


@pytest.mark.timeout(40)
def test_kill_during_a_parallel_branch_reruns_only_the_unfinished_branch(lab):
    engine = lab.engine()
    run = engine.enqueue("fanout", None)
    worker = lab.spawn("--block", "c")

    def two_branches_saved_and_c_running() -> bool:
        rows = step_statuses(engine, run.id)
        return (
            rows.get("a") == "completed"
            and rows.get("b") == "completed"
            and lab.started(run.id, "c", worker.pid)
        )

    wait_until(two_branches_saved_and_c_running, timeout=10, what="a, b saved and c started")
    worker.kill()

    me = os.getpid()
    with engine.stream() as events:
        engine.start(poll_interval=0.05)
        info = engine.wait(run.id, timeout=20)
        # Every step_start was delivered before the run's final write: read what is buffered.
        seen = []
        while True:
            try:
                event = events.get(timeout=0)
            except TimeoutError:
                break
            if event is None:
                break
            seen.append(event)
    assert info.run.status == "completed"
    assert starts(lab, run.id, "fetch") == [(worker.pid, 1)]
    assert starts(lab, run.id, "a") == [(worker.pid, 1)]
    assert starts(lab, run.id, "b") == [(worker.pid, 1)]
    assert starts(lab, run.id, "c") == [(worker.pid, 1), (me, 2)]
    assert starts(lab, run.id, "merge") == [(me, 1)]
    assert {s.name: s.attempts for s in info.steps} == {
        "fetch": 1,
        "a": 1,
        "b": 1,
        "c": 2,
        "merge": 1,
    }
    stored = outputs_by_step(info)
    for name in ("fetch", *flows.BRANCHES, "merge"):
        (done,) = lab.entries(run.id, phase="done", step=name)
        assert stored[name] == done.output, name
    assert stored["merge"]["branch_tokens"] == {b: stored[b]["token"] for b in flows.BRANCHES}
    restarted = [e.step_name for e in seen if isinstance(e, StepStart) and e.run_id == run.id]
    assert restarted == ["c", "merge"], "replayed branches emit no step_start"


@pytest.mark.timeout(40)
def test_a_run_sleeping_in_a_killed_process_resumes_elsewhere_after_its_wake_time(lab):
    engine = lab.engine()
    run = engine.enqueue("nap", None)
    worker = lab.spawn()
    wait_until(
        lambda: engine.get_run_status(run.id).run.status == "sleeping",
        timeout=10,
        what="the run to sleep",
    )
    worker.kill()
    rows = {step.name: step for step in engine.get_run_status(run.id).steps}
    assert rows["nap"].status == "sleeping"
    wake_at = rows["nap"].output
    assert isinstance(wake_at, int)
    assert lab.entries(run.id, step="after") == [], "the worker must not have woken the run"

    engine.start(poll_interval=0.05)
    info = engine.wait(run.id, timeout=20)
    assert info.run.status == "completed"
    me = os.getpid()
    assert starts(lab, run.id, "before") == [(worker.pid, 1)]
    assert starts(lab, run.id, "after") == [(me, 1)]
    (after_start,) = lab.entries(run.id, phase="start", step="after")
    assert after_start.at_ms >= wake_at, "resumed before its wake time"
    assert info.step("nap").status == "completed"
    stored = outputs_by_step(info)
    assert stored["after"]["prev_token"] == stored["before"]["token"], "prev passes the sleep"
    assert lab.entries(phase="error") == []


@pytest.mark.timeout(40)
def test_a_crash_right_after_complete_leaves_the_run_completed_and_skips_later_steps(lab):
    engine = lab.engine()
    run = engine.enqueue("early", None)
    worker = lab.spawn("--block-hook", "decide")
    wait_until(
        lambda: lab.entries(run.id, phase="hook", step="decide"),
        timeout=10,
        what="the step_complete hook of decide",
    )
    worker.kill()

    info = engine.get_run_status(run.id)
    assert info is not None
    assert info.run.status == "completed", "complete() is durable before its notifications"
    row = info.step("decide")
    assert row is not None
    assert row.status == "completed-early"
    (done,) = lab.entries(run.id, phase="done", step="decide")
    assert row.output == done.output
    assert info.step("s3") is None
    assert lab.entries(run.id, step="s3") == []
    assert starts(lab, run.id, "s1") == [(worker.pid, 1)]
    assert starts(lab, run.id, "decide") == [(worker.pid, 1)]
