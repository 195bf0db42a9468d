"""``engine.wait``: block until a run is terminal, reading storage only.

Covers the ``wait`` row of API.md "Engine" and "Details the contract fixes":
it works on an engine that was never started (another engine, or another
process on the same SQLite file, executes the run, and the waiting engine runs
nothing itself), its timeout raises the builtin ``TimeoutError`` (or a
subclass), and an unknown id raises ``RunNotFoundError``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from reflow_actors import RunInfo, create_workflow
from reflow_actors.errors import ReflowError, RunNotFoundError
from reflow_actors.records import RunStatus

pytestmark = pytest.mark.timeout(30)


def _twin(label: str, calls: list[str]):
    """A workflow named ``shared`` whose handler records which engine ran it."""

    def handler(ctx):
        calls.append(label)
        time.sleep(0.05)
        return label

    return create_workflow("shared").step("a", handler)


def test_wait_on_a_never_started_engine_sees_a_run_another_engine_finishes(harness):
    calls: list[str] = []
    waiter = harness.engine([_twin("waiter", calls)], storage=harness.sqlite("wait.db"))
    worker = harness.engine([_twin("worker", calls)], storage=harness.sqlite("wait.db"))
    run = waiter.enqueue("shared", None)
    worker.start(poll_interval=0.05)

    info = waiter.wait(run.id, timeout=10)

    assert isinstance(info, RunInfo)
    assert info.run.status == RunStatus.COMPLETED
    assert info.step("a").output == "worker"
    assert calls == ["worker"]
    assert not waiter.running


def test_wait_returns_at_once_for_a_run_that_is_already_terminal(harness):
    wf = create_workflow("quick").step("a", lambda ctx: 1)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    started = time.monotonic()
    assert engine.wait(run.id, timeout=5).run.status == RunStatus.COMPLETED
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_wait_returns_failed_and_cancelled_runs_too(harness, status):
    wf = create_workflow("ends").step("a", lambda ctx: 1 / 0)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    if status == "cancelled":
        engine.cancel(run.id)
    else:
        engine.tick()
    assert engine.wait(run.id, timeout=5).run.status == status


def test_wait_times_out_with_the_builtin_timeout_error(harness):
    wf = create_workflow("idle").step("a", lambda ctx: 1)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)  # nobody executes it
    started = time.monotonic()
    with pytest.raises(TimeoutError) as raised:
        engine.wait(run.id, timeout=0.2)
    elapsed = time.monotonic() - started
    assert isinstance(raised.value, TimeoutError)
    assert 0.2 <= elapsed < 2
    assert engine.get_run_status(run.id).run.status == RunStatus.PENDING


def test_wait_for_an_unknown_run_raises_run_not_found(harness):
    engine = harness.engine([])
    with pytest.raises(RunNotFoundError) as raised:
        engine.wait("no-such-run", timeout=1)
    assert isinstance(raised.value, ReflowError)
    assert "no-such-run" in str(raised.value)


WORKER_SCRIPT = textwrap.dedent(
    """
    import sys
    from reflow_actors import create_engine, create_workflow
    from reflow_actors.storage import SQLiteStorage

    wf = create_workflow("cross").step("a", lambda ctx: {"pid_side": "child", "in": ctx.input})
    storage = SQLiteStorage(sys.argv[1])
    engine = create_engine(storage=storage, workflows=[wf])
    try:
        while engine.tick():
            pass
    finally:
        engine.stop()
        storage.close()
    """
)


def test_wait_sees_a_run_finished_by_another_process(harness, tmp_path):
    parent_calls: list[int] = []
    wf = create_workflow("cross").step("a", lambda ctx: parent_calls.append(1))
    storage = harness.sqlite("cross.db")
    engine = harness.engine([wf], storage=storage)
    run = engine.enqueue(wf, 7)

    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "cross.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        info = engine.wait(run.id, timeout=20)
    finally:
        _out, err = child.communicate(timeout=20)
    assert child.returncode == 0, err.decode()
    assert info.run.status == RunStatus.COMPLETED
    assert info.step("a").output == {"pid_side": "child", "in": 7}
    assert parent_calls == []
