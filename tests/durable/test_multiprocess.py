"""Durable time and events across processes sharing one SQLite file (real clock, real processes).

* Two worker processes polling one file fire a schedule for several
  occurrences with exactly one run per occurrence.
* A run put to sleep by one process, which is then killed with SIGKILL, is
  resumed by another process as soon as it is due: a sleeping run holds no
  lease, so nothing waits for a lease to expire.
* An event sent by this process wakes a run claimed by a worker process.

Workers are ``tests/durable/_worker.py`` started with ``sys.executable``; the
workflows they run are in ``tests/durable/_workflows.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reflow_actors import RunStatus, StepStatus, SystemClock
from tests.durable._workflows import ALL, APPROVAL, BEAT, NAP
from tests.durable.conftest import Durable, output_of, wait_until

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


class Workers:
    """Starts worker processes and makes sure every one of them is gone afterwards."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, poll_interval: float) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.durable._worker", str(self.path), str(poll_interval)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        assert process.stdout is not None
        assert process.stderr is not None
        line = process.stdout.readline()  # the worker prints "ready <pid>" once started
        assert line.strip() == f"ready {process.pid}", process.stderr.read()
        return process

    def stop(self, process: subprocess.Popen[str]) -> None:
        _, stderr = process.communicate("stop\n", timeout=20)
        assert process.returncode == 0, stderr

    def kill(self, process: subprocess.Popen[str]) -> None:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
        assert process.returncode == -signal.SIGKILL

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path / "shared.db")
    try:
        yield started
    finally:
        started.close()


def _engine(durable: Durable, workers: Workers) -> Any:
    """This process's engine on the shared file: real clock, never started."""
    real = SystemClock()
    storage = durable.sqlite(workers.path.name, clock=real)
    return durable.engine(storage, ALL, clock=real)


def _status(engine: Any, run_id: str) -> RunStatus | None:
    info = engine.get_run_status(run_id)
    return None if info is None else info.run.status


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_two_processes_fire_each_occurrence_of_a_schedule_exactly_once(
    durable: Durable, workers: Workers
) -> None:
    engine = _engine(durable, workers)
    engine.list_schedules()  # creates the schema before the workers race for it
    first, second = workers.start(0.02), workers.start(0.02)
    interval_ms = 500
    engine.schedule(BEAT, {"tag": "pulse"}, every=interval_ms / 1000)
    [registered] = engine.list_schedules()
    first_due = registered.next_run_at

    wait_until(
        lambda: len(engine.list_runs(workflow="beat")) >= 6,
        timeout=20,
        message="six scheduled runs",
    )
    workers.stop(first)
    workers.stop(second)
    stopped_at = int(time.time() * 1000)

    runs = engine.list_runs(workflow="beat")
    assert all(run.input == {"tag": "pulse"} for run in runs)
    # A firing at time t claims the latest due occurrence and moves the schedule
    # past t, so each run is created in the window of a different occurrence; a
    # second run for one occurrence would share its window with the first.
    windows = [(run.created_at - first_due) // interval_ms for run in runs]
    assert min(windows) >= 0
    assert len(set(windows)) == len(runs), sorted(windows)
    assert len(runs) <= (stopped_at - first_due) // interval_ms + 1
    completed = [run for run in runs if run.status is RunStatus.COMPLETED]
    assert len(completed) >= 5
    ran_in = {output_of(engine, run.id, "record")["pid"] for run in completed}
    assert ran_in <= {first.pid, second.pid}


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_sleeping_run_of_a_killed_process_is_resumed_by_another_process(
    durable: Durable, workers: Workers
) -> None:
    engine = _engine(durable, workers)
    run = engine.enqueue(NAP, None)
    sleeper = workers.start(60)  # claims the run at once; its own wake-up would come in 2 s
    wait_until(
        lambda: _status(engine, run.id) is RunStatus.SLEEPING,
        timeout=10,
        message="the run to sleep",
    )
    workers.kill(sleeper)

    resumer = workers.start(0.05)  # lease_duration is 30 s: only a released lease allows this
    info = engine.wait(run.id, timeout=15)
    assert info.run.status is RunStatus.COMPLETED
    before, nap, after = (info.step(name) for name in ("before", "nap", "after"))
    assert before is not None
    assert nap is not None
    assert after is not None
    assert before.output["pid"] == sleeper.pid
    assert nap.status is StepStatus.COMPLETED
    assert after.output == {"pid": resumer.pid, "prev": {"pid": sleeper.pid, "prev": None}}
    assert after.created_at - before.created_at >= 2000  # the sleep was served in full
    workers.stop(resumer)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_an_event_sent_by_one_process_wakes_a_run_claimed_by_another(
    durable: Durable, workers: Workers
) -> None:
    engine = _engine(durable, workers)
    run = engine.enqueue(APPROVAL, None)
    worker = workers.start(0.05)
    wait_until(
        lambda: _status(engine, run.id) is RunStatus.WAITING,
        timeout=10,
        message="the run to wait for its event",
    )

    assert engine.send_event(run.id, "approved", {"by": os.getpid()}) is True
    info = engine.wait(run.id, timeout=10)
    assert info.run.status is RunStatus.COMPLETED
    begin, finish = info.step("begin"), info.step("finish")
    assert begin is not None
    assert finish is not None
    assert begin.output["pid"] == worker.pid
    assert finish.output == {"pid": worker.pid, "prev": {"by": os.getpid()}}
    workers.stop(worker)
