"""A run's own heartbeat must not take it away after its final write.

Once a run's last result is saved (``completed`` or ``failed``), the engine
still delivers ``step_complete``/``run_complete`` or ``run_failed`` and calls
``on_failure``. The Heartbeat keeps renewing the run's lease until the run
has fully finished; storage refuses the renewal of a run that is no longer
``running``, and the refusal is treated as a lost lease, which interrupts the
pending notifications. These tests make that window wider than one heartbeat
interval (a hook slower than ``heartbeat_interval``), in process, on
``MemoryStorage``. Found by the two-process drain test (about 1 in 50 runs
lost its ``on_run_complete``).
"""

from __future__ import annotations

import threading
import time

import pytest

from reflow_actors import Hooks, create_engine, create_workflow
from reflow_actors.storage import MemoryStorage

HEARTBEAT = 0.05
SLOW = 0.3  # six heartbeats


def slow_hook(_event: object) -> None:
    threading.Event().wait(SLOW)


def engine_with(workflow, hooks: Hooks):
    return create_engine(
        storage=MemoryStorage(),
        workflows=[workflow],
        lease_duration=1,
        heartbeat_interval=HEARTBEAT,
        hooks=hooks,
    )


def boom(_ctx: object) -> None:
    raise RuntimeError("provisioning failed")


@pytest.mark.timeout(10)
def test_run_complete_is_delivered_after_a_slow_step_complete_hook():
    completed: list[str] = []
    errors: list[BaseException] = []
    workflow = create_workflow("one").step("only", lambda ctx: {"ok": True})
    hooks = Hooks(
        on_step_complete=slow_hook,
        on_run_complete=lambda event: completed.append(event.run_id),
        on_error=errors.append,
    )
    engine = engine_with(workflow, hooks)
    try:
        run = engine.enqueue(workflow, None)
        assert engine.tick() == 1
        assert engine.get_run_status(run.id).run.status == "completed"
        assert completed == [run.id]
        assert errors == []
    finally:
        engine.stop()


@pytest.mark.timeout(10)
def test_on_failure_runs_even_when_the_run_failed_hook_is_slow():
    compensated: list[str] = []
    workflow = (
        create_workflow("saga")
        .step("provision", boom)
        .on_failure(lambda failure: compensated.append(failure.step_name))
    )
    engine = engine_with(workflow, Hooks(on_run_failed=slow_hook))
    try:
        run = engine.enqueue(workflow, None)
        assert engine.tick() == 1
        assert engine.get_run_status(run.id).run.status == "failed"
        assert compensated == ["provision"]
    finally:
        engine.stop()


@pytest.mark.timeout(10)
def test_tick_returns_after_a_slow_on_failure_handler_finished():
    log: list[str] = []

    def compensate(_failure: object) -> None:
        log.append("start")
        time.sleep(SLOW)  # simulated work: a slow refund call
        log.append("end")

    workflow = create_workflow("saga").step("provision", boom).on_failure(compensate)
    engine = engine_with(workflow, Hooks())
    try:
        engine.enqueue(workflow, None)
        assert engine.tick() == 1
        assert log == ["start", "end"]
    finally:
        engine.stop()
