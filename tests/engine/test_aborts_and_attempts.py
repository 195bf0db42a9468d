"""Aborts never wait for handlers, and attempt numbers survive interruptions.

Covers API.md "Retry and timeouts" (abandoned handlers, attempts across crash
recoveries) and reflow-ts §8 ST-6/ST-12/ST-13 with the Python design notes: a
cancel ends ``tick()`` at once even when the handler ignores its signal, and
the late result is discarded; a cancel during a retry delay ends the step
without waiting out the delay and writes no ``failed`` row; ``stop()`` does not
wait for an abandoned handler; and after an interrupted claim the retry budget
starts again while ``ctx.attempt`` keeps counting.
"""

from __future__ import annotations

import threading
import time

import pytest

from reflow_actors import Retry, VirtualClock, create_workflow
from reflow_actors.records import RunStatus, StepStatus

from .conftest import START, wait_until

pytestmark = pytest.mark.timeout(15)


def _job_finished(run_id: str, step: str) -> bool:
    label = f"StepActor[{run_id}/{step}]"
    return all(thread.name != label for thread in threading.enumerate())


def test_cancel_ends_tick_at_once_even_if_the_handler_ignores_its_signal(harness):
    entered = threading.Event()
    release = threading.Event()
    after: list[int] = []

    def stubborn(ctx):
        entered.set()
        release.wait(10)  # ignores ctx.signal
        return {"late": True}

    wf = (
        create_workflow("stubborn-cancel")
        .step("slow", stubborn)
        .step("after", lambda ctx: after.append(1))
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    ticking = harness.background(engine.tick)
    try:
        assert entered.wait(5)
        cancelled_at = time.monotonic()
        assert engine.cancel(run.id) is True
        assert ticking.result(timeout=3) == 1
        assert time.monotonic() - cancelled_at < 2
        assert not release.is_set()
    finally:
        release.set()

    wait_until(lambda: _job_finished(run.id, "slow"))
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.CANCELLED
    assert all(step.status not in ("completed", "failed") for step in info.steps)
    assert info.step("after") is None
    assert after == []


def test_cancel_during_a_retry_delay_ends_the_step_without_waiting_out_the_delay(harness):
    clock = VirtualClock(START)  # frozen: the 10 s delay can only end by a cancel
    calls: list[int] = []

    def fails(ctx):
        calls.append(ctx.attempt)
        raise RuntimeError("transient")

    wf = create_workflow("backoff-cancel").step(
        "s", fails, retry=Retry(max_attempts=3, backoff="fixed", initial_delay=10)
    )
    engine = harness.engine([wf], clock=clock)
    run = engine.enqueue(wf, None)
    ticking = harness.background(engine.tick)

    def next_attempt_marked():
        row = engine.get_run_status(run.id).step("s")
        return row is not None and row.attempts == 2

    wait_until(next_attempt_marked)
    assert engine.cancel(run.id) is True
    assert ticking.result(timeout=3) == 1

    assert calls == [1]
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.CANCELLED
    assert all(step.status != StepStatus.FAILED for step in info.steps)


def test_stop_does_not_wait_for_an_abandoned_handler(harness):
    release = threading.Event()
    wf = create_workflow("abandoned-stop").step("s", lambda ctx: release.wait(10), timeout=0.1)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    try:
        engine.tick()
        assert engine.get_run_status(run.id).step("s").error.startswith("StepTimeoutError")
        stopping = time.monotonic()
        engine.stop()
        assert time.monotonic() - stopping < 2
        assert not release.is_set()
    finally:
        release.set()
    wait_until(lambda: _job_finished(run.id, "s"))


def test_after_an_interrupted_claim_the_retry_budget_restarts_and_attempts_keep_counting(harness):
    clock = VirtualClock(START)
    attempts: list[int] = []
    in_second = threading.Event()

    def handler(ctx):
        attempts.append(ctx.attempt)
        if ctx.attempt == 2:
            in_second.set()
            ctx.signal.wait(5)  # the engine goes away here
            ctx.signal.throw_if_aborted()
        if ctx.attempt in (1, 3):
            raise RuntimeError(f"attempt {ctx.attempt}")
        return {"attempt": ctx.attempt}

    wf = create_workflow("budget").step("s", handler, retry=Retry(max_attempts=2, initial_delay=0))
    engine = harness.engine([wf], clock=clock)
    run = engine.enqueue(wf, None)
    engine.start(poll_interval=60)
    assert in_second.wait(5)
    engine.stop(timeout=5)
    interrupted = engine.get_run_status(run.id)
    assert interrupted.run.status == RunStatus.RUNNING
    assert interrupted.step("s").attempts == 2

    clock.advance(31)  # the lease is stale: the next claim takes the run over
    assert engine.tick() == 1

    # Attempts 3 and 4 are the new claim's two tries; the numbering carried on.
    assert attempts == [1, 2, 3, 4]
    row = engine.get_run_status(run.id).step("s")
    assert (row.status, row.output, row.attempts) == ("completed", {"attempt": 4}, 4)
