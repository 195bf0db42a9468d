"""A full disk, simulated with ``PRAGMA max_page_count`` on the storage's own connections.

When the database cannot grow, the write that needs the room fails with
``StorageError`` (its ``__cause__`` is APSW's ``FullError``): raised to the
caller for ``enqueue``, reported to ``on_error`` for a step's result. Nothing
earlier is lost: completed rows stay as they were, and the failed write left
no trace. The engine retries a failing persist with backoff; once space
exists again the run resumes where it was (the step's result is written,
its handler is not called again). If the retries run out first, the run is
left to its lease, and after it the run is taken over and completes, re-running
only the step whose result never made it to disk.
"""

from __future__ import annotations

import threading

import apsw
import pytest

from reflow_actors import VirtualClock, create_workflow
from reflow_actors.errors import StorageError

from .conftest import wait_until

BIG = 300_000  # bytes of output: far more than the pages a full database has left
UNLIMITED = 1073741823


def _set_room(storage, pages: int | None) -> None:
    """Cap (or uncap) how many pages the storage's connections may grow the file to."""
    for connection in storage._connections():
        if pages is None:
            connection.execute(f"PRAGMA max_page_count = {UNLIMITED}")
        else:
            current = connection.execute("PRAGMA page_count").fetchall()[0][0]
            connection.execute(f"PRAGMA max_page_count = {max(pages, current)}")


def _full_errors(bench) -> list[StorageError]:
    return [e for e in bench.errors.of(StorageError) if isinstance(e.__cause__, apsw.FullError)]


class BigStep:
    """A step that waits for the test's go-ahead on its first attempt, then returns BIG bytes."""

    def __init__(self, bench) -> None:
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.go = bench.gate()

    def __call__(self, ctx):
        self.calls.append(ctx.attempt)
        if ctx.attempt == 1:
            self.entered.set()
            self.go.wait(30)
        return {"blob": "y" * BIG}


def _flow(big: BigStep, small_calls: list[str]):
    def small(ctx):
        small_calls.append("small")
        return {"small": 1}

    return (
        create_workflow("disk")
        .step("small", small)
        .step("big", big)
        .step("after", lambda ctx: len(ctx.prev["blob"]))
    )


@pytest.mark.timeout(30)
def test_a_full_disk_fails_the_write_keeps_earlier_results_and_the_run_resumes_in_place(bench):
    big = BigStep(bench)
    small_calls: list[str] = []
    workflow = _flow(big, small_calls)
    storage = bench.sqlite()
    engine = bench.engine(storage, [workflow])
    run = engine.enqueue(workflow, None)
    engine.start(poll_interval=0.05)
    assert big.entered.wait(10)
    _set_room(storage, 0)

    # A user's write that needs room is refused outright, and leaves nothing.
    with pytest.raises(StorageError) as raised:
        engine.enqueue(workflow, {"blob": "z" * BIG})
    assert raised.value.operation == "create_run"
    assert isinstance(raised.value.__cause__, apsw.FullError)
    assert [r.id for r in engine.list_runs()] == [run.id]

    # The step's result cannot be written: reported, retried, nothing half-written.
    big.go.set()
    wait_until(lambda: len(_full_errors(bench)) >= 2, timeout=10, what="two failed persists")
    assert {e.operation for e in _full_errors(bench)} == {"save_progress"}
    info = engine.get_run_status(run.id)
    assert info.run.status == "running"
    assert [(s.name, s.status, s.output) for s in info.steps] == [
        ("small", "completed", {"small": 1}),
        ("big", "running", None),
    ]

    _set_room(storage, None)
    done = engine.wait(run.id, timeout=15)
    assert done.run.status == "completed"
    assert done.step("after").output == BIG
    assert (done.step("big").status, done.step("big").attempts) == ("completed", 1)
    assert big.calls == [1], "the result was written once there was room; no re-run"
    assert small_calls == ["small"]


@pytest.mark.timeout(30)
def test_when_the_persist_retries_run_out_the_run_is_left_to_its_lease_then_completes(bench):
    clock = VirtualClock()
    big = BigStep(bench)
    small_calls: list[str] = []
    workflow = _flow(big, small_calls)
    storage = bench.sqlite(clock=clock)
    engine = bench.engine(storage, [workflow], clock=clock, lease_duration=30)
    run = engine.enqueue(workflow, None)
    claimed: list[int] = []
    ticker = threading.Thread(target=lambda: claimed.append(engine.tick()), name="test-tick")
    ticker.start()
    try:
        assert big.entered.wait(10)
        _set_room(storage, 0)
        big.go.set()
        wait_until(lambda: _full_errors(bench), timeout=10, what="the first failed persist")
        # Each failed persist waits a backoff on the engine's clock: keep moving it on
        # until the next attempt has failed too (the timer may not be set yet at a move).
        for failures in range(2, 9):

            def failed_again(failures=failures):
                if len(_full_errors(bench)) >= failures:
                    return True
                clock.advance(10)
                return False

            wait_until(failed_again, timeout=10, interval=0.01, what=f"failed persist #{failures}")
        ticker.join(10)
        assert not ticker.is_alive()
    finally:
        big.go.set()
        ticker.join(10)
    assert claimed == [1]
    assert len(_full_errors(bench)) == 8, "a bounded number of attempts"
    info = engine.get_run_status(run.id)
    assert info.run.status == "running", "left to its lease, not failed"
    assert [(s.name, s.status) for s in info.steps] == [("small", "completed"), ("big", "running")]

    _set_room(storage, None)
    assert engine.tick() == 0, "the lease is not stale yet"
    clock.advance(31)
    assert engine.tick() == 1
    done = engine.get_run_status(run.id)
    assert done.run.status == "completed"
    assert done.step("small").output == {"small": 1}
    assert done.step("after").output == BIG
    assert (done.step("big").status, done.step("big").attempts) == ("completed", 2)
    assert big.calls == [1, 2], "only the step whose result was lost ran again"
    assert small_calls == ["small"]
