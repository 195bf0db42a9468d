"""Concurrent claims and stale takeovers never let two leases hold one run at once.

``tests/storage`` already races plain claims of pending runs (eight threads on one
adapter, two adapters on one file). This property adds what those do not: threads
that mix ``claim_next_run`` and ``claim_runs`` with and without ``stale_before``
(so runs are taken over from each other while their holders keep heartbeating and
writing), on two ``SQLiteStorage`` adapters sharing one file, and on
``MemoryStorage``. The clock is frozen, so every running run is stale as soon as it
is claimed and every stale claim takes one over.

Each call is stamped with a global sequence number when it is made and when it
returns. Real-time order gives the checks: a fenced write made after another
lease's claim of the run had returned, where that claim itself began after this
lease's claim had returned, must be refused; a fenced write made when no other
claim of the run could have come after its own must succeed; no run is claimed
twice by claims without ``stale_before``; and at the end exactly one of every
lease granted for a run still holds it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflow_actors.clock import VirtualClock
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun
from reflow_actors.storage import MemoryStorage, SQLiteStorage

START = 1_767_225_600.0

operations = st.one_of(
    st.tuples(st.just("claim_next_run"), st.booleans(), st.just(1)),
    st.tuples(st.just("claim_runs"), st.booleans(), st.integers(1, 3)),
    st.tuples(st.just("heartbeat"), st.just(False), st.just(0)),
    st.tuples(st.just("save"), st.just(False), st.just(0)),
)
scripts = st.lists(st.lists(operations, min_size=3, max_size=12), min_size=2, max_size=4)


@dataclass
class Grant:
    run_id: str
    lease: str
    stale: bool
    began: int
    ended: int


@dataclass
class Write:
    run_id: str
    lease: str
    kind: str
    began: int
    ended: int
    ok: bool


@dataclass
class Log:
    grants: list[Grant] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _run_script(
    adapter: Any,
    script: list[tuple[str, bool, int]],
    clock: VirtualClock,
    tick: itertools.count[int],
    barrier: threading.Barrier,
    log: Log,
) -> None:
    held: list[tuple[str, str]] = []  # (run_id, lease) this thread was granted
    try:
        barrier.wait()
        for number, (kind, stale, limit) in enumerate(script):
            if kind in ("claim_next_run", "claim_runs"):
                stale_before = clock.now_ms() if stale else None
                began = next(tick)
                if kind == "claim_next_run":
                    found = adapter.claim_next_run(["w"], stale_before)
                    runs = [] if found is None else [found]
                else:
                    runs = [
                        claimed.run for claimed in adapter.claim_runs(["w"], limit, stale_before)
                    ]
                ended = next(tick)
                with log.lock:
                    log.batches.append([run.id for run in runs])
                    for run in runs:
                        log.grants.append(Grant(run.id, run.lease_id, stale, began, ended))
                held.extend((run.id, run.lease_id) for run in runs)
            elif held:
                run_id, lease = held[number % len(held)]
                began = next(tick)
                if kind == "heartbeat":
                    ok = adapter.heartbeat_run(run_id, lease)
                else:
                    row = StepResult("w", StepStatus.COMPLETED, lease, run_id=run_id)
                    ok = adapter.save_step_result(row, lease)
                ended = next(tick)
                with log.lock:
                    log.writes.append(Write(run_id, lease, kind, began, ended, ok))
    except BaseException as error:  # reported by the test, in its own thread
        with log.lock:
            log.errors.append(error)


def _check(log: Log, adapter: Any, run_ids: list[str]) -> None:
    assert log.errors == [], log.errors
    for batch in log.batches:
        assert len(set(batch)) == len(batch), f"one claim returned a run twice: {batch}"
    leases = [grant.lease for grant in log.grants]
    assert all(leases), "a claim returned a run without a lease"
    assert len(set(leases)) == len(leases), "a lease was granted twice"
    fresh = [grant.run_id for grant in log.grants if not grant.stale]
    assert len(set(fresh)) == len(fresh), f"a pending run was claimed twice: {sorted(fresh)}"

    by_run: dict[str, list[Grant]] = {}
    for grant in log.grants:
        by_run.setdefault(grant.run_id, []).append(grant)
    grant_of = {grant.lease: grant for grant in log.grants}
    for write in log.writes:
        own = grant_of[write.lease]
        # Claims of this run that certainly came after this lease's own claim.
        later = [
            other for other in by_run[write.run_id] if other is not own and other.began > own.ended
        ]
        if write.ok:
            overtaken = [other for other in later if other.ended < write.began]
            assert not overtaken, (
                f"{write.kind} with a lease of {write.run_id!r} succeeded after another "
                f"claim of the run had taken it over: {write} / {overtaken}"
            )
        # Claims that may have come after this lease's: they overlap or follow it.
        rivals = [
            other
            for other in by_run[write.run_id]
            if other is not own and other.ended > own.began and other.began < write.ended
        ]
        if not rivals:
            assert write.ok, f"{write.kind} was refused while its lease held the run: {write}"

    for run_id, grants in by_run.items():
        holding = [grant.lease for grant in grants if adapter.heartbeat_run(run_id, grant.lease)]
        assert len(holding) == 1, f"{run_id!r} is held by {len(holding)} of {len(grants)} leases"
        stored = adapter.get_run(run_id)
        assert stored.status is RunStatus.RUNNING
    for run_id in run_ids:
        if run_id not in by_run:
            assert adapter.get_run(run_id).status is RunStatus.PENDING


def _race(adapters: list[Any], clock: VirtualClock, script_set: list[Any], runs: int) -> None:
    now = clock.now_ms()
    run_ids = [f"r{index}" for index in range(runs)]
    for index, run_id in enumerate(run_ids):
        adapters[0].create_run(
            WorkflowRun(run_id, "w", {}, None, RunStatus.PENDING, now + index, now)
        )
    log = Log()
    tick = itertools.count()
    barrier = threading.Barrier(len(script_set), timeout=30)
    threads = [
        threading.Thread(
            target=_run_script,
            args=(adapters[index % len(adapters)], script, clock, tick, barrier, log),
        )
        for index, script in enumerate(script_set)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a claiming thread hung"
    _check(log, adapters[-1], run_ids)


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.timeout(120)
@SETTINGS
@given(script_set=scripts, runs=st.integers(1, 6))
def test_two_sqlite_adapters_on_one_file_never_let_two_leases_hold_a_run(
    tmp_path_factory: pytest.TempPathFactory, script_set, runs
):
    folder: Path = tmp_path_factory.mktemp("race")
    clock = VirtualClock(START, frozen=True)
    adapters = [
        SQLiteStorage(folder / "reflow.db", durability="normal", clock=clock) for _ in range(2)
    ]
    try:
        for adapter in adapters:
            adapter.initialize()
        _race(adapters, clock, script_set, runs)
    finally:
        for adapter in adapters:
            adapter.close()


@pytest.mark.timeout(120)
@SETTINGS
@given(script_set=scripts, runs=st.integers(1, 6))
def test_memory_storage_never_lets_two_leases_hold_a_run(script_set, runs):
    clock = VirtualClock(START, frozen=True)
    adapter = MemoryStorage(clock=clock)
    try:
        adapter.initialize()
        _race([adapter], clock, script_set, runs)
    finally:
        adapter.close()
