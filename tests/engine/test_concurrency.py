"""Concurrency: ``concurrency`` runs execute at once, never more; methods are thread-safe.

Covers API.md "Engine" (``concurrency``, "All methods are thread-safe") and
reflow-ts §19 CC: N slots run N runs simultaneously (proved with a barrier the
handlers must all reach), the default is one, a started engine refills a freed
slot at once rather than at the next poll, concurrent ``tick()`` calls respect
the limit, and enqueueing from many threads into a started engine loses nothing.
"""

from __future__ import annotations

import threading
import time

import pytest

from reflow_actors import create_workflow
from reflow_actors.records import RunStatus

pytestmark = pytest.mark.timeout(20)


class Gauge:
    """Counts handlers running at the same moment, and the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.calls = 0

    def __enter__(self) -> Gauge:
        with self._lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.active -= 1


def test_concurrency_n_runs_n_runs_at_the_same_time(harness):
    barrier = threading.Barrier(3, timeout=5)
    gauge = Gauge()

    def meet(ctx):
        with gauge:
            barrier.wait()  # breaks (and fails the step) unless all three are running
        return ctx.input

    wf = create_workflow("together").step("meet", meet)
    engine = harness.engine([wf], concurrency=3)
    runs = [engine.enqueue(wf, n) for n in range(3)]
    assert engine.tick() == 3
    for run in runs:
        assert engine.get_run_status(run.id).run.status == RunStatus.COMPLETED
    assert gauge.peak == 3


def test_a_tick_claims_no_more_runs_than_exist(harness):
    wf = create_workflow("few").step("a", lambda ctx: None)
    engine = harness.engine([wf], concurrency=5)
    engine.enqueue(wf, 1)
    engine.enqueue(wf, 2)
    assert engine.tick() == 2
    assert engine.tick() == 0


def test_the_default_concurrency_runs_one_run_at_a_time(harness):
    gauge = Gauge()

    def work(ctx):
        with gauge:
            time.sleep(0.02)

    wf = create_workflow("serial").step("a", work)
    engine = harness.engine([wf])
    first = engine.enqueue(wf, 1)
    second = engine.enqueue(wf, 2)
    assert engine.tick() == 1
    assert engine.get_run_status(first.id).run.status == RunStatus.COMPLETED
    assert engine.get_run_status(second.id).run.status == RunStatus.PENDING
    assert gauge.peak == 1


def test_a_started_engine_never_exceeds_its_concurrency(harness):
    gauge = Gauge()

    def work(ctx):
        with gauge:
            time.sleep(0.03)
        return ctx.input

    wf = create_workflow("bounded").step("a", work)
    engine = harness.engine([wf], concurrency=2)
    runs = [engine.enqueue(wf, n) for n in range(6)]
    engine.start(poll_interval=60)
    for run in runs:
        assert engine.wait(run.id, timeout=5).run.status == RunStatus.COMPLETED
    assert gauge.peak <= 2
    assert gauge.calls == 6


def test_a_finished_run_frees_its_slot_and_the_next_is_claimed_at_once(harness):
    order: list[int] = []
    wf = create_workflow("refill").step("a", lambda ctx: order.append(ctx.input))
    engine = harness.engine([wf])
    runs = [engine.enqueue(wf, n) for n in range(4)]
    # One slot, and the next poll is a minute away: only refilling a freed slot
    # at once can finish all four runs in time.
    engine.start(poll_interval=60)
    started = time.monotonic()
    for run in runs:
        assert engine.wait(run.id, timeout=2).run.status == RunStatus.COMPLETED
    assert time.monotonic() - started < 2
    assert sorted(order) == [0, 1, 2, 3]


def test_concurrent_ticks_share_the_concurrency_limit(harness):
    gauge = Gauge()

    def work(ctx):
        with gauge:
            time.sleep(0.05)

    wf = create_workflow("ticks").step("a", work)
    engine = harness.engine([wf])
    engine.enqueue(wf, 1)
    engine.enqueue(wf, 2)
    ticks = [harness.background(engine.tick) for _ in range(2)]
    claimed = [tick.result(timeout=5) for tick in ticks]
    # The second tick finds the only slot taken (or, if it comes late, the next run).
    assert sorted(claimed) in ([0, 1], [1, 1])
    assert gauge.peak == 1


def test_enqueue_from_many_threads_into_a_started_engine_runs_every_run_once(harness):
    storage = harness.sqlite("threads.db")
    seen: list[str] = []
    lock = threading.Lock()

    def record(ctx):
        with lock:
            seen.append(ctx.run_id)
        return ctx.input

    wf = create_workflow("threads").step("a", record)
    engine = harness.engine([wf], storage=storage, concurrency=4)
    engine.start(poll_interval=60)
    start_line = threading.Barrier(8, timeout=5)

    def producer(thread_index: int) -> list[str]:
        start_line.wait()
        return [engine.enqueue(wf, {"t": thread_index, "n": n}).id for n in range(5)]

    producers = [harness.background(producer, index) for index in range(8)]
    run_ids = [run_id for future in producers for run_id in future.result(timeout=10)]

    assert len(set(run_ids)) == 40
    for run_id in run_ids:
        assert engine.wait(run_id, timeout=10).run.status == RunStatus.COMPLETED
    assert sorted(seen) == sorted(run_ids)
    assert len(engine.list_runs(status="completed", limit=100)) == 40
