"""SIGKILL a worker process inside a sequential step; another engine finishes the run.

The worker (``worker.py``) runs the five-step workflow on a SQLite file and is
killed while it is inside one step. An engine in the test process, with a 1 s
lease, reclaims the run once the lease is stale and finishes it. The ledger
proves what ran where: completed steps ran exactly once, the interrupted step
ran twice (once per process), and storage holds exactly the outputs the
ledger saw produced.
"""

from __future__ import annotations

import itertools
import os

import pytest

from tests.crash import flows
from tests.crash.conftest import LEASE, Lab, outputs_by_step, wait_until


def kill_inside(lab: Lab, step: str) -> tuple[str, int, int]:
    """Enqueue a five-step run, kill the worker inside ``step``; (run id, worker pid, ms)."""
    engine = lab.engine()
    run = engine.enqueue("five", None)
    worker = lab.spawn("--block", step)
    wait_until(lambda: lab.started(run.id, step, worker.pid), timeout=10, what=f"{step} to start")
    worker.kill()
    info = engine.get_run_status(run.id)
    assert info is not None
    assert info.run.status == "running", "a killed worker leaves its run running"
    return run.id, worker.pid, info.run.updated_at


def recover_and_check(lab: Lab, run_id: str, killed_step: str, worker_pid: int, last_beat: int):
    engine = lab.engine()
    engine.start(poll_interval=0.05)
    info = engine.wait(run_id, timeout=20)
    assert info.run.status == "completed"

    me = os.getpid()
    index = flows.SEQUENTIAL.index(killed_step)
    stored = outputs_by_step(info)
    assert list(stored) == list(flows.SEQUENTIAL)
    for position, name in enumerate(flows.SEQUENTIAL):
        starts = [(e.pid, e.attempt) for e in lab.entries(run_id, phase="start", step=name)]
        done = lab.entries(run_id, phase="done", step=name)
        row = info.step(name)
        assert row is not None
        assert row.status == "completed"
        if position < index:  # completed before the kill: exactly once, in the worker
            assert starts == [(worker_pid, 1)], name
            assert row.attempts == 1
        elif position == index:  # in flight at the kill: once per process
            assert starts == [(worker_pid, 1), (me, 2)], name
            assert row.attempts == 2, "the crashed attempt counts (attempts survive crashes)"
        else:  # never reached by the worker
            assert starts == [(me, 1)], name
            assert row.attempts == 1
        assert len(done) == 1, name
        assert stored[name] == done[0].output, f"storage holds another output than {name} made"

    # Each step saw the persisted output of the one before, across the crash.
    for before, after in itertools.pairwise(flows.SEQUENTIAL):
        assert stored[after]["prev_token"] == stored[before]["token"]
    assert stored[flows.SEQUENTIAL[0]]["prev_token"] is None

    # The run was not taken over before its lease went stale.
    recovered = [e for e in lab.entries(run_id) if e.pid == me]
    assert min(e.at_ms for e in recovered) >= last_beat + LEASE * 1000
    assert lab.entries(phase="error") == []


@pytest.mark.timeout(40)
def test_kill_during_the_first_step_reruns_only_that_step_with_attempt_two(lab):
    run_id, worker_pid, last_beat = kill_inside(lab, "s1")
    recover_and_check(lab, run_id, "s1", worker_pid, last_beat)


@pytest.mark.timeout(40)
def test_kill_during_a_middle_step_never_reruns_the_completed_steps(lab):
    run_id, worker_pid, last_beat = kill_inside(lab, "s3")
    recover_and_check(lab, run_id, "s3", worker_pid, last_beat)


@pytest.mark.timeout(40)
def test_kill_during_the_last_step_keeps_every_earlier_output(lab):
    run_id, worker_pid, last_beat = kill_inside(lab, "s5")
    recover_and_check(lab, run_id, "s5", worker_pid, last_beat)
