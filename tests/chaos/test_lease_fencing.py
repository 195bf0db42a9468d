"""Lease fencing under pauses: a worker frozen (SIGSTOP) past its lease is fenced out.

A worker process is frozen while it is inside a step, for longer than its
1 s lease. An engine in the test process takes the run over once the lease is
stale and completes it. Then the gate the frozen handler waits on is opened
and the worker is resumed (SIGCONT): its handler finishes and its engine tries
to carry on, but storage refuses every write it makes for that run (the
worker logs each fenced write and the answer it got), nothing in storage
changes, and the worker goes on healthy: it stops cleanly, or takes new work.
"""

from __future__ import annotations

import os

import pytest

from tests.chaos import flows
from tests.chaos.conftest import LEASE, Lab, stored_rows, wait_until


def _late_writes(lab: Lab, run_id: str, pid: int, after: int) -> list[bool]:
    """The answers storage gave to the worker's fenced writes for the run after ``after``."""
    return [
        bool(entry.extra["ok"])
        for entry in lab.entries(run_id, phase="write", pid=pid)
        if entry.seq > after
    ]


def _starts(lab: Lab, run_id: str) -> list[tuple[str, int, int]]:
    return [(e.step, e.pid, e.attempt) for e in lab.entries(run_id, phase="start")]


@pytest.mark.timeout(60)
def test_a_frozen_worker_past_its_lease_is_fenced_out_and_the_run_completes_once(lab):
    taker = lab.engine()
    run = taker.enqueue(flows.WORKFLOW, {"n": 0})
    frozen = lab.spawn("--gate-step", "s3", "--gate", str(lab.gate), "--concurrency", "1")
    wait_until(
        lambda: lab.entries(run.id, phase="start", step="s3", pid=frozen.pid),
        timeout=20,
        what="the worker to enter s3",
    )
    frozen.freeze_between_writes(lab.db)
    stopped_at = lab.mark("sigstop")
    last_renewal = taker.get_run_status(run.id).run.updated_at  # nothing renews it now

    taker.start(poll_interval=0.05)
    info = taker.wait(run.id, timeout=20)
    assert info.run.status == "completed"
    before = stored_rows(info)

    lab.gate.touch()
    frozen.thaw()
    wait_until(
        lambda: lab.entries(run.id, phase="done", step="s3", pid=frozen.pid),
        timeout=10,
        what="the resumed handler to finish s3",
    )
    wait_until(
        lambda: _late_writes(lab, run.id, frozen.pid, stopped_at),
        timeout=10,
        what="the resumed worker to try a fenced write",
    )
    assert frozen.stop(timeout=20) == 0, lab.worker_log()

    # Every write the resumed worker made for the run was refused, and storage is unchanged.
    assert set(_late_writes(lab, run.id, frozen.pid, stopped_at)) == {False}
    after = taker.get_run_status(run.id)
    assert after is not None
    assert after.run.status == "completed"
    assert stored_rows(after) == before

    taker_pid = os.getpid()
    assert _starts(lab, run.id) == [
        ("s1", frozen.pid, 1),
        ("s2", frozen.pid, 1),
        ("s3", frozen.pid, 1),
        ("s3", taker_pid, 2),
        ("s4", taker_pid, 1),
        ("s5", taker_pid, 1),
    ]
    (takeover,) = lab.entries(run.id, phase="start", step="s3", pid=taker_pid)
    assert takeover.at * 1000 >= last_renewal + LEASE * 1000, "taken over before the lease ran out"
    stored = {step.name: step.output for step in after.steps}
    (late,) = lab.entries(run.id, phase="done", step="s3", pid=frozen.pid)
    assert flows.token_of(stored["s3"]) != flows.token_of(late.output)
    assert stored["s4"]["prev_token"] == flows.token_of(stored["s3"])
    assert [e.pid for e in lab.entries(run.id, phase="complete")] == [taker_pid]
    assert lab.errors_reported() == []
    assert "Traceback" not in lab.worker_log()


@pytest.mark.timeout(60)
def test_a_resumed_worker_drops_every_run_it_lost_and_goes_on_taking_new_work(lab):
    taker = lab.engine(concurrency=4)
    runs = [taker.enqueue(flows.WORKFLOW, {"n": n}).id for n in range(4)]
    frozen = lab.spawn("--gate-step", "s2", "--gate", str(lab.gate), "--concurrency", "4")
    wait_until(
        lambda: all(lab.entries(r, phase="start", step="s2", pid=frozen.pid) for r in runs),
        timeout=20,
        what="all four runs to enter s2 in the worker",
    )
    frozen.freeze_between_writes(lab.db)
    stopped_at = lab.mark("sigstop")

    taker.start(poll_interval=0.05)
    for run_id in runs:
        assert taker.wait(run_id, timeout=20).run.status == "completed"
    taker.stop()
    before = {run_id: stored_rows(taker.get_run_status(run_id)) for run_id in runs}

    lab.gate.touch()
    frozen.thaw()
    fresh = taker.enqueue(flows.WORKFLOW, {"n": 99})
    done = taker.wait(fresh.id, timeout=20)
    assert done.run.status == "completed"
    assert {step.output["pid"] for step in done.steps} == {frozen.pid}, "the worker took new work"
    for run_id in runs:
        wait_until(
            lambda run_id=run_id: _late_writes(lab, run_id, frozen.pid, stopped_at),
            timeout=10,
            what=f"the worker to try a fenced write for {run_id}",
        )
    assert frozen.stop(timeout=20) == 0, lab.worker_log()

    for run_id in runs:
        assert set(_late_writes(lab, run_id, frozen.pid, stopped_at)) == {False}, run_id
        info = taker.get_run_status(run_id)
        assert info is not None
        assert stored_rows(info) == before[run_id]
        assert len(lab.entries(run_id, phase="complete")) == 1
        later = [e for e in lab.entries(run_id, phase="start", pid=frozen.pid) if e.step != "s1"]
        assert [e.step for e in later] == ["s2"], "the resumed worker never went past s2"
    assert lab.errors_reported() == []
    assert "Traceback" not in lab.worker_log()
