"""Engine construction (validation, defaults) and lifecycle: start, stop, tick, ``with``.

Covers API.md "Engine" (constructor, ``start``/``stop``/``tick``, context
manager) and reflow-ts §4 EC and §5 LC: bad options are ``ConfigError``,
duplicate workflow names ``DuplicateWorkflowError``, the heartbeat defaults to
a third of the lease and renews through the adapter's ``heartbeat_run`` (a
delegating user adapter works), ``tick()`` works without
``start()`` and after ``stop()``, ``stop()`` is idempotent, ``start()`` twice is
harmless, and ``with engine as e`` yields the engine.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import Engine, VirtualClock, create_engine, create_workflow
from reflow_actors.errors import (
    ConfigError,
    DuplicateWorkflowError,
    EngineStoppedError,
    WorkflowNotFoundError,
)
from reflow_actors.records import RunStatus

from .conftest import START, ProbeClock, wait_until

pytestmark = pytest.mark.timeout(15)


def echo(ctx):
    return {"echo": ctx.input}


WF = create_workflow("echo").step("a", echo)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_concurrency_must_be_a_positive_int(harness, bad):
    with pytest.raises(ConfigError, match="concurrency"):
        create_engine(storage=harness.memory(), workflows=[WF], concurrency=bad)


@pytest.mark.parametrize("bad", [0, -1, "0s", "soon", float("inf")])
def test_lease_duration_must_be_a_positive_duration(harness, bad):
    with pytest.raises(ConfigError, match="lease_duration"):
        create_engine(storage=harness.memory(), workflows=[WF], lease_duration=bad)


@pytest.mark.parametrize(
    ("lease", "heartbeat"), [(10, 0), (10, -1), (10, 10), (10, 20), ("1s", "1s"), (30, "30s")]
)
def test_heartbeat_interval_must_be_positive_and_shorter_than_the_lease(harness, lease, heartbeat):
    with pytest.raises(ConfigError, match="heartbeat_interval"):
        create_engine(
            storage=harness.memory(),
            workflows=[WF],
            lease_duration=lease,
            heartbeat_interval=heartbeat,
        )


def test_heartbeat_must_be_shorter_than_the_default_lease_of_thirty_seconds(harness):
    with pytest.raises(ConfigError):
        create_engine(storage=harness.memory(), workflows=[WF], heartbeat_interval=30)
    create_engine(storage=harness.memory(), workflows=[WF], heartbeat_interval=29.9)


def test_duplicate_workflow_names_raise_duplicate_workflow_error(harness):
    twin = create_workflow("echo").step("other", echo)
    with pytest.raises(DuplicateWorkflowError, match='"echo"'):
        create_engine(storage=harness.memory(), workflows=[WF, twin])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_max_output_bytes_must_be_a_positive_int(harness, bad):
    with pytest.raises(ConfigError, match="max_output_bytes"):
        create_engine(storage=harness.memory(), workflows=[WF], max_output_bytes=bad)


def test_hooks_must_be_a_hooks_object(harness):
    with pytest.raises(ConfigError):
        create_engine(storage=harness.memory(), workflows=[WF], hooks={"on_error": print})


def test_storage_that_is_not_an_adapter_is_a_config_error():
    with pytest.raises(ConfigError):
        create_engine(storage=object(), workflows=[WF])  # type: ignore[arg-type]


def test_defaults_are_concurrency_one_and_no_workflows(harness):
    engine = harness.engine()
    assert engine.concurrency == 1
    assert engine.workflows == {}
    assert not engine.running
    assert engine.tick() == 0
    with pytest.raises(WorkflowNotFoundError, match='"nonexistent"'):
        engine.enqueue("nonexistent", None)
    assert engine.get_run_status("no-such-run") is None


def test_the_default_lease_is_thirty_seconds(harness):
    clock = VirtualClock(START)
    storage = harness.memory(clock)
    engine = harness.engine([WF], storage=storage, clock=clock)
    run = engine.enqueue(WF, 1)
    # A crashed worker: claimed, never renewed.
    assert storage.claim_next_run(["echo"]).id == run.id

    clock.advance(29.9)
    assert engine.tick() == 0
    clock.advance(0.1)
    assert engine.tick() == 1
    assert engine.get_run_status(run.id).run.status == RunStatus.COMPLETED


@pytest.mark.parametrize(
    ("options", "interval"),
    [
        ({}, 10.0),
        ({"lease_duration": 9}, 3.0),
        ({"lease_duration": "1m", "heartbeat_interval": 2}, 2.0),
    ],
    ids=["default-lease", "lease-9s", "explicit"],
)
def test_the_heartbeat_interval_defaults_to_a_third_of_the_lease(harness, options, interval):
    clock = ProbeClock()
    engine = harness.engine([WF], clock=clock, **options)
    assert engine.dispatcher is not None  # builds the actor system, whose Heartbeat waits
    assert wait_until(lambda: clock.pending(within=1000)) == pytest.approx(interval)


class CountingAdapter:
    """A user adapter that delegates to MemoryStorage and counts lease renewals."""

    def __init__(self, inner):
        self._inner = inner
        self.heartbeats: list[str] = []

    def heartbeat_run(self, run_id, lease_id):
        self.heartbeats.append(run_id)
        return self._inner.heartbeat_run(run_id, lease_id)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_leases_are_renewed_through_heartbeat_run_while_a_step_runs(harness):
    clock = VirtualClock(START)
    adapter = CountingAdapter(harness.memory(clock))
    release = threading.Event()
    entered = threading.Event()

    def hold(ctx):
        entered.set()
        release.wait(5)

    wf = create_workflow("held").step("a", hold)
    engine = harness.engine([wf], storage=adapter, clock=clock)
    run = engine.enqueue(wf, None)
    ticking = harness.background(engine.tick)
    try:
        assert entered.wait(5)
        clock.advance(10)  # one default heartbeat interval
        wait_until(lambda: adapter.heartbeats == [run.id])
        assert engine.get_run_status(run.id).run.updated_at == clock.now_ms()
    finally:
        release.set()
    assert ticking.result(timeout=5) == 1
    assert engine.get_run_status(run.id).run.status == RunStatus.COMPLETED


def test_tick_works_without_start_and_returns_how_many_runs_it_claimed(harness):
    engine = harness.engine([WF])
    first = engine.enqueue(WF, 1)
    second = engine.enqueue(WF, 2)
    assert not engine.running
    assert engine.tick() == 1
    assert engine.get_run_status(first.id).run.status == RunStatus.COMPLETED
    assert engine.get_run_status(second.id).run.status == RunStatus.PENDING
    assert engine.tick() == 1
    assert engine.tick() == 0
    assert engine.get_run_status(second.id).step("a").output == {"echo": 2}


def test_tick_initializes_sqlite_storage_itself(harness):
    storage = harness.sqlite("fresh.db", initialize=False)
    engine = harness.engine([WF], storage=storage)
    assert engine.tick() == 0
    run = engine.enqueue(WF, "x")
    assert engine.tick() == 1
    assert engine.get_run_status(run.id).run.status == RunStatus.COMPLETED


def test_tick_still_works_after_stop(harness):
    engine = harness.engine([WF])
    engine.start(poll_interval=60)
    engine.stop()
    run = engine.enqueue(WF, "after-stop")
    assert engine.tick() == 1
    assert engine.get_run_status(run.id).run.status == RunStatus.COMPLETED


def test_stop_is_idempotent_and_safe_on_an_engine_never_started(harness):
    never = harness.engine([WF])
    never.stop()
    never.stop()
    engine = harness.engine([WF])
    engine.start(poll_interval=60)
    engine.stop()
    engine.stop()
    engine.stop(timeout=1)
    assert not engine.running


def test_a_stopped_engine_does_not_pick_up_new_runs(harness):
    entered = threading.Event()
    wf = create_workflow("late").step("a", lambda ctx: entered.set())
    engine = harness.engine([wf])
    engine.start(poll_interval=0.02)
    engine.stop()
    run = engine.enqueue(wf, None)
    # Polls were due every 20 ms: none may claim the run after stop().
    assert not entered.wait(0.3)
    assert engine.get_run_status(run.id).run.status == RunStatus.PENDING


def test_starting_twice_is_harmless_and_runs_execute_once(harness):
    calls: list[str] = []
    lock = threading.Lock()

    def once(ctx):
        with lock:
            calls.append(ctx.run_id)

    wf = create_workflow("once").step("a", once)
    engine = harness.engine([wf], concurrency=2)
    engine.start(poll_interval=60)
    engine.start(poll_interval=60)
    assert engine.running
    runs = [engine.enqueue(wf, i) for i in range(4)]
    for run in runs:
        assert engine.wait(run.id, timeout=5).run.status == RunStatus.COMPLETED
    assert sorted(calls) == sorted(run.id for run in runs)


def test_with_engine_as_e_starts_it_yields_the_engine_and_stops_it(harness):
    engine = harness.engine([WF])
    with engine as entered:
        assert entered is engine
        assert isinstance(entered, Engine)
        assert engine.running
        run = engine.enqueue(WF, "ctx")
        assert engine.wait(run.id, timeout=5).run.status == RunStatus.COMPLETED
    assert not engine.running


def test_leaving_the_with_block_by_an_exception_still_stops_the_engine(harness):
    engine = harness.engine([WF])
    inside: list[bool] = []

    def use_then_fail():
        with engine:
            inside.append(engine.running)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        use_then_fail()
    assert inside == [True]
    assert not engine.running


def test_an_engine_can_be_started_again_after_stop(harness):
    engine = harness.engine([WF])
    engine.start(poll_interval=60)
    engine.stop()
    engine.start(poll_interval=60)
    assert engine.running
    run = engine.enqueue(WF, "again")
    assert engine.wait(run.id, timeout=5).run.status == RunStatus.COMPLETED


@pytest.mark.parametrize("bad", [0, -1, "soon", float("nan")])
def test_start_rejects_a_non_positive_poll_interval(harness, bad):
    engine = harness.engine([WF])
    with pytest.raises(ConfigError, match="poll_interval"):
        engine.start(poll_interval=bad)
    assert not engine.running


def test_stop_aborts_an_in_flight_step_and_leaves_the_run_reclaimable(harness):
    clock = VirtualClock(START)
    attempts: list[int] = []
    seen: dict = {}
    entered = threading.Event()

    def blocking(ctx):
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            entered.set()
            seen["aborted"] = ctx.signal.wait(5)
            seen["reason"] = ctx.signal.reason
        return "done"

    wf = create_workflow("blocked").step("a", blocking).step("b", echo)
    engine = harness.engine([wf], clock=clock)
    engine.start(poll_interval=60)
    run = engine.enqueue(wf, None)
    assert entered.wait(5)
    engine.stop(timeout=5)

    wait_until(lambda: "reason" in seen)
    assert seen["aborted"] is True
    assert isinstance(seen["reason"], EngineStoppedError)
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.RUNNING
    assert info.step("b") is None
    assert all(step.status != "failed" for step in info.steps)

    # Not failed, not cancelled: once the lease is stale any engine takes it over.
    clock.advance(31)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert attempts == [1, 2]
    assert info.step("a").attempts == 2
