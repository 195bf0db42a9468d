"""Leases and heartbeats between engines sharing one SQLite file: heartbeats keep a long
step's lease, a stale run is reclaimed without re-running completed steps, a refused
heartbeat aborts the step with ``LeaseExpiredError`` and writes nothing more, and the
first engine's late result is fenced off after a reclaim
(reflow-ts §13 LS-1..LS-7, CM-4; API.md "Leases and crash recovery").
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from reflow_actors import Retry, VirtualClock, create_workflow
from reflow_actors.errors import LeaseExpiredError

from .conftest import DelegatingStorage, Recorder, wait_until


@pytest.mark.timeout(15)
def test_heartbeats_keep_a_long_step_leased_against_another_engine(rt):
    calls = {"first": 0, "second": 0}

    def long_step(ctx):
        calls["first"] += 1
        ctx.signal.wait(1.6)  # far longer than the 0.6 s lease
        return {"lease": "kept", "aborted": ctx.signal.aborted}

    def intruder(ctx):
        calls["second"] += 1
        return "stolen"

    owner = rt.engine(
        rt.sqlite(),
        [create_workflow("long").step("s", long_step)],
        lease_duration=0.6,
        heartbeat_interval=0.1,
    )
    other = rt.engine(
        rt.sqlite(),
        [create_workflow("long").step("s", intruder)],
        lease_duration=0.6,
        heartbeat_interval=0.1,
    )
    run = owner.enqueue("long", None)
    tick = rt.bg(owner.tick)
    wait_until(lambda: calls["first"] == 1)
    started = time.monotonic()
    claims = []
    while not tick.done and time.monotonic() - started < 1.4:
        if time.monotonic() - started > 0.8:  # the lease would have expired by now
            claims.append(other.tick())
        time.sleep(0.05)
    assert tick.result(timeout=3) == 1
    assert claims, "the second engine never got to try"
    assert set(claims) == {0}
    assert calls == {"first": 1, "second": 0}
    info = owner.get_run_status(run.id)
    assert info.run.status == "completed"
    assert info.step("s").output == {"lease": "kept", "aborted": False}


@pytest.mark.timeout(15)
def test_a_stale_run_left_by_a_stopped_engine_is_reclaimed_by_another(rt):
    calls: list[str] = []
    entered = threading.Event()

    def first_a(ctx):
        calls.append("first:a")
        return {"a": 1}

    def first_b(ctx):
        calls.append("first:b")
        entered.set()
        ctx.signal.wait(10)
        return "interrupted"

    def second_a(ctx):
        calls.append("second:a")
        return {"a": 2}

    def second_b(ctx):
        calls.append("second:b")
        return {"b": ctx.prev["a"], "attempt": ctx.attempt}

    old = rt.engine(
        rt.sqlite(),
        [create_workflow("stale").step("a", first_a).step("b", first_b)],
        lease_duration=0.3,
        heartbeat_interval=0.1,
    )
    new = rt.engine(
        rt.sqlite(),
        [create_workflow("stale").step("a", second_a).step("b", second_b)],
        lease_duration=0.3,
        heartbeat_interval=0.1,
    )
    run = old.enqueue("stale", None)
    tick = rt.bg(old.tick)
    assert entered.wait(5)
    old.stop(timeout=5)
    tick.result()
    assert new.get_run_status(run.id).run.status == "running"

    wait_until(lambda: new.tick() == 1, message="the stale run to be reclaimed")
    info = new.get_run_status(run.id)
    assert info.run.status == "completed"
    assert calls == ["first:a", "first:b", "second:b"]
    assert info.step("a").output == {"a": 1}
    assert info.step("b").output == {"b": 1, "attempt": 2}
    assert info.step("b").attempts == 2


@pytest.mark.timeout(10)
def test_a_refused_heartbeat_aborts_the_step_and_writes_nothing_more(rt):
    entered = threading.Event()
    seen: dict[str, Any] = {}
    after: list[Any] = []

    def slow(ctx):
        entered.set()
        ctx.signal.wait(10)
        seen["reason"] = ctx.signal.reason
        return "must not be saved"

    adapter = DelegatingStorage(rt.sqlite())
    recorder = Recorder()
    wf = create_workflow("lease-lost").step("slow", slow).step("after", after.append)
    engine = rt.engine(
        adapter, [wf], lease_duration=1, heartbeat_interval=0.05, hooks=recorder.hooks()
    )
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert entered.wait(5)
    adapter.refuse_heartbeats = True
    assert tick.result(timeout=3) == 1
    wait_until(lambda: "reason" in seen)
    assert isinstance(seen["reason"], LeaseExpiredError)
    engine.stop(timeout=5)
    assert adapter.writes_after(adapter.first_refusal_at, run.id) == []
    info = engine.get_run_status(run.id)
    assert info.run.status == "running"
    assert info.step("slow").status == "running"
    assert info.step("slow").output is None
    assert info.step("after") is None
    assert after == []
    assert recorder.of("run_failed") == []
    assert recorder.of("step_complete") == []


@pytest.mark.timeout(10)
def test_a_lease_lost_during_a_retry_delay_halts_without_another_attempt(rt):
    calls: list[int] = []
    adapter = DelegatingStorage(rt.sqlite())

    def flaky(ctx):
        calls.append(ctx.attempt)
        raise RuntimeError("transient")

    wf = create_workflow("lost-in-backoff").step(
        "flaky", flaky, retry=Retry(max_attempts=3, backoff="fixed", initial_delay=30)
    )
    engine = rt.engine(adapter, [wf], lease_duration=1, heartbeat_interval=0.05)
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)

    def in_retry_delay():
        rows = adapter.get_step_results(run.id)
        return rows and rows[0].attempts == 2

    wait_until(in_retry_delay, message="the retry delay to begin")
    adapter.refuse_heartbeats = True
    assert tick.result(timeout=3) == 1  # not 30 s later
    assert calls == [1]
    info = engine.get_run_status(run.id)
    assert info.run.status == "running"  # left to its lease, not failed
    assert [row.status for row in info.steps] == ["running"]


@pytest.mark.timeout(10)
def test_a_late_result_from_the_old_lease_holder_is_refused_after_a_reclaim(rt):
    entered = threading.Event()
    release = rt.gate()
    calls: list[str] = []

    def old_step(ctx):
        calls.append("old:work")
        entered.set()
        release.wait(10)  # a paused worker: ignores its signal, returns late
        return "from-old"

    def new_step(ctx):
        calls.append("new:work")
        return "from-new"

    def make(tag: str):
        return lambda ctx: calls.append(f"{tag}:after") or ctx.prev

    recorder = Recorder()
    old = rt.engine(
        rt.sqlite(),
        [create_workflow("fenced").step("work", old_step).step("after", make("old"))],
        lease_duration=60,
        heartbeat_interval=30,
        hooks=recorder.hooks(),
    )
    # The new engine's clock runs an hour ahead, so the old engine's lease looks stale.
    ahead = VirtualClock(time.time() + 3600)
    new = rt.engine(
        rt.sqlite(clock=ahead),
        [create_workflow("fenced").step("work", new_step).step("after", make("new"))],
        lease_duration=60,
        clock=ahead,
    )
    run = old.enqueue("fenced", None)
    tick = rt.bg(old.tick)
    assert entered.wait(5)
    assert new.tick() == 1  # reclaims the stale run and completes it
    assert new.get_run_status(run.id).run.status == "completed"
    release.set()
    assert tick.result(timeout=3) == 1
    info = new.get_run_status(run.id)
    assert info.run.status == "completed"
    assert info.step("work").output == "from-new"
    assert info.step("after").output == "from-new"
    assert calls == ["old:work", "new:work", "new:after"]
    assert recorder.of("step_complete") == []  # the old engine announced nothing
    assert recorder.of("run_failed") == []


class SlowFinalWrite(DelegatingStorage):
    """A final status write that takes a while to commit (a slow fsync, say)."""

    def __init__(self, inner: Any, delay: float) -> None:
        super().__init__(inner)
        self.delay = delay

    def update_claimed_run_status(self, run_id: str, lease_id: str, status: Any) -> bool:
        written = super().update_claimed_run_status(run_id, lease_id, status)
        if status in ("completed", "failed"):
            time.sleep(self.delay)  # committed, but the call has not returned yet
        return written


@pytest.mark.timeout(10)
def test_heartbeats_during_a_slow_final_write_do_not_swallow_run_complete(rt):
    recorder = Recorder()
    wf = create_workflow("slow-commit").step("a", lambda ctx: 1).step("b", lambda ctx: 2)
    adapter = SlowFinalWrite(rt.sqlite(), delay=0.3)
    engine = rt.engine(
        adapter, [wf], lease_duration=1, heartbeat_interval=0.02, hooks=recorder.hooks()
    )
    with engine.stream() as stream:
        run = engine.enqueue(wf, None)
        assert engine.tick() == 1
        streamed = [stream.get(timeout=1).type for _ in range(6)]
    assert engine.get_run_status(run.id).run.status == "completed"
    assert recorder.types()[-2:] == ["step_complete", "run_complete"]
    assert streamed[-1] == "run_complete"


@pytest.mark.timeout(10)
def test_heartbeats_during_a_slow_final_write_do_not_skip_on_failure(rt):
    recorder = Recorder()
    failures: list[Any] = []

    def fail(ctx):
        raise ValueError("real failure")

    wf = create_workflow("slow-fail").step("bad", fail).on_failure(failures.append)
    adapter = SlowFinalWrite(rt.sqlite(), delay=0.3)
    engine = rt.engine(
        adapter, [wf], lease_duration=1, heartbeat_interval=0.02, hooks=recorder.hooks()
    )
    run = engine.enqueue(wf, None)
    assert engine.tick() == 1
    assert engine.get_run_status(run.id).run.status == "failed"
    assert [e.step_name for e in recorder.of("run_failed")] == ["bad"]
    assert [context.step_name for context in failures] == ["bad"]
