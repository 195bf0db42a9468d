"""The run loop: chaining ``prev``, persisting each result before the next step, replay.

Covers API.md "StepContext" (``input``, ``prev``) and "Details the contract
fixes" (one row per step, rows in creation order), and reflow-ts §7 EX: the
first ``prev`` is ``None``, each output is durable before the next handler
starts (read back from a second connection inside that handler), completed
rows replay without running their handler, a ``failed`` row re-executes in
place, ``None`` outputs round-trip, and a workflow with no steps completes.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import Hooks, Retry, StepResult, StepStatus, VirtualClock, create_workflow
from reflow_actors.records import RunStatus
from reflow_actors.storage import SQLiteStorage

from .conftest import START

pytestmark = pytest.mark.timeout(10)


def test_each_step_receives_the_previous_output_and_the_first_gets_none(harness):
    seen: list[tuple[str, object, object]] = []

    def step(name, make):
        def handler(ctx):
            seen.append((name, ctx.prev, ctx.input))
            return make(ctx.prev)

        return handler

    wf = (
        create_workflow("chain")
        .step("a", step("a", lambda prev: {"a": 11}))
        .step("b", step("b", lambda prev: {"b": prev["a"] * 2}))
        .step("c", step("c", lambda prev: [prev, "done"]))
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, {"x": 10})
    engine.tick()

    assert seen == [
        ("a", None, {"x": 10}),
        ("b", {"a": 11}, {"x": 10}),
        ("c", {"b": 22}, {"x": 10}),
    ]
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert [(s.name, s.status, s.output, s.attempts) for s in info.steps] == [
        ("a", "completed", {"a": 11}, 1),
        ("b", "completed", {"b": 22}, 1),
        ("c", "completed", [{"b": 22}, "done"], 1),
    ]
    assert info.steps[0].created_at <= info.steps[1].created_at <= info.steps[2].created_at


def test_a_step_output_is_committed_before_the_next_step_starts(harness):
    storage = harness.sqlite("durable.db")
    observed: dict = {}

    def second(ctx):
        # A separate connection sees only what was committed.
        reader = SQLiteStorage(storage.path)
        try:
            observed["rows"] = reader.get_step_results(ctx.run_id)
        finally:
            reader.close()
        return "second"

    wf = create_workflow("durable").step("first", lambda ctx: {"v": 1}).step("second", second)
    engine = harness.engine([wf], storage=storage)
    engine.enqueue(wf, None)
    engine.tick()

    first_rows = [row for row in observed["rows"] if row.name == "first"]
    assert len(first_rows) == 1
    assert first_rows[0].status == StepStatus.COMPLETED
    assert first_rows[0].output == {"v": 1}


def test_run_complete_carries_the_last_output_and_events_come_in_order(harness, recorder):
    wf = create_workflow("events").step("a", lambda ctx: 1).step("b", lambda ctx: {"done": True})
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()
    assert recorder.types(run.id) == [
        ("run_start", None),
        ("step_start", "a"),
        ("step_complete", "a"),
        ("step_start", "b"),
        ("step_complete", "b"),
        ("run_complete", None),
    ]
    (complete,) = recorder.of_type("run_complete")
    assert complete.output == {"done": True}
    assert complete.workflow == "events"


def test_a_step_result_is_persisted_before_its_step_complete_event(harness):
    rows: list = []
    engine = None

    def on_step_complete(event):
        rows.append(engine.get_run_status(event.run_id).step(event.step_name))

    wf = create_workflow("persist-first").step("a", lambda ctx: {"v": 1}).step("b", lambda ctx: 2)
    engine = harness.engine([wf], hooks=Hooks(on_step_complete=on_step_complete))
    engine.enqueue(wf, None)
    engine.tick()
    assert [(row.name, row.status, row.output) for row in rows] == [
        ("a", "completed", {"v": 1}),
        ("b", "completed", 2),
    ]


def test_completed_rows_replay_without_running_their_handlers(harness, recorder):
    calls: list[str] = []
    seen: dict = {}

    def first(ctx):
        calls.append("first")
        return {"fresh": True}

    def second(ctx):
        calls.append("second")
        seen["prev"] = ctx.prev
        seen["steps"] = dict(ctx.steps)
        return "second"

    wf = create_workflow("replay").step("first", first).step("second", second)
    storage = harness.memory()
    engine = harness.engine([wf], storage=storage, hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    storage.save_step_result(
        StepResult("first", StepStatus.COMPLETED, {"a": 1}, attempts=1, run_id=run.id)
    )

    engine.tick()

    assert calls == ["second"]
    assert seen == {"prev": {"a": 1}, "steps": {"first": {"a": 1}}}
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert [(s.name, s.output) for s in info.steps] == [("first", {"a": 1}), ("second", "second")]
    assert ("step_start", "first") not in recorder.types(run.id)
    assert ("step_complete", "first") not in recorder.types(run.id)


def test_a_new_engine_on_the_same_file_resumes_after_the_last_completed_step(harness):
    clock = VirtualClock(START)
    log: list[str] = []
    lock = threading.Lock()
    in_b = threading.Event()

    def step(name):
        def handler(ctx):
            with lock:
                log.append(name)
            if name == "b" and log.count("b") == 1:
                in_b.set()
                ctx.signal.wait(5)  # the "process" dies here
                ctx.signal.throw_if_aborted()
            return name

        return handler

    wf = create_workflow("restart").step("a", step("a")).step("b", step("b")).step("c", step("c"))
    first = harness.engine([wf], storage=harness.sqlite("restart.db", clock=clock), clock=clock)
    run = first.enqueue(wf, None)
    first.start(poll_interval=60)
    assert in_b.wait(5)
    first.stop(timeout=5)
    assert first.get_run_status(run.id).run.status == RunStatus.RUNNING

    clock.advance(31)  # the first engine's lease is stale
    second = harness.engine([wf], storage=harness.sqlite("restart.db", clock=clock), clock=clock)
    assert second.tick() == 1

    assert log == ["a", "b", "b", "c"]
    info = second.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert [(s.name, s.output) for s in info.steps] == [("a", "a"), ("b", "b"), ("c", "c")]


def test_a_failed_row_is_executed_again_and_updated_in_place(harness):
    calls: list[int] = []

    def flaky(ctx):
        calls.append(ctx.attempt)
        return "ok"

    clock = VirtualClock(START)
    wf = create_workflow("refail").step("a", flaky)
    storage = harness.memory(clock)
    engine = harness.engine([wf], storage=storage, clock=clock)
    run = engine.enqueue(wf, None)
    storage.save_step_result(
        StepResult("a", StepStatus.FAILED, None, "ValueError: old", 1, run_id=run.id)
    )
    (seeded,) = storage.get_step_results(run.id)
    clock.advance(5)

    engine.tick()

    assert calls == [2]
    (row,) = engine.get_run_status(run.id).steps
    assert (row.status, row.output, row.attempts) == ("completed", "ok", 2)
    assert row.id == seeded.id
    assert row.created_at == seeded.created_at
    assert row.updated_at == clock.now_ms()


def test_none_outputs_are_persisted_and_passed_on_as_prev(harness):
    seen: list = []
    wf = (
        create_workflow("nones")
        .step("nothing", lambda ctx: None)
        .step("after", lambda ctx: seen.append(ctx.prev) or {"received": ctx.prev})
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert seen == [None]
    info = engine.get_run_status(run.id)
    assert info.step("nothing").status == StepStatus.COMPLETED
    assert info.step("nothing").output is None
    assert info.step("after").output == {"received": None}


def test_a_workflow_with_no_steps_completes_with_no_output(harness, recorder):
    wf = create_workflow("empty")
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, {"ignored": True})
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.COMPLETED
    assert info.steps == []
    assert recorder.types(run.id) == [("run_start", None), ("run_complete", None)]
    assert recorder.of_type("run_complete")[0].output is None


def test_each_workflow_routes_to_its_own_handlers(harness):
    left = create_workflow("left").step("go", lambda ctx: "left")
    right = create_workflow("right").step("go", lambda ctx: "right")
    engine = harness.engine([left, right], concurrency=2)
    a = engine.enqueue(right, None)
    b = engine.enqueue(left, None)
    assert engine.tick() == 2
    assert engine.get_run_status(a.id).step("go").output == "right"
    assert engine.get_run_status(b.id).step("go").output == "left"


def test_a_backlog_is_processed_oldest_first_one_run_per_tick(harness):
    clock = VirtualClock(START)
    order: list[int] = []
    wf = create_workflow("fifo").step("a", lambda ctx: order.append(ctx.input))
    engine = harness.engine([wf], clock=clock)
    for n in range(1, 6):
        engine.enqueue(wf, n)
        clock.advance(0.001)
    for _ in range(5):
        assert engine.tick() == 1
    assert order == [1, 2, 3, 4, 5]


def test_a_finished_run_is_never_claimed_again(harness):
    wf = create_workflow("done").step("a", lambda ctx: 1)
    failing = create_workflow("broken").step("a", lambda ctx: 1 / 0)
    engine = harness.engine([wf, failing], concurrency=2)
    engine.enqueue(wf, None)
    engine.enqueue(failing, None)
    assert engine.tick() == 2
    assert engine.tick() == 0
    assert {run.status for run in engine.list_runs()} == {"completed", "failed"}


def test_an_output_over_max_output_bytes_fails_the_step_without_retry(harness):
    calls: list[int] = []

    def big(ctx):
        calls.append(ctx.attempt)
        return "x" * 500

    wf = create_workflow("big").step("big", big, retry=Retry(max_attempts=3, initial_delay=0))
    engine = harness.engine([wf], max_output_bytes=200)
    run = engine.enqueue(wf, None)
    engine.tick()
    assert calls == [1]
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    row = info.step("big")
    assert (row.status, row.output) == ("failed", None)
    assert row.error.startswith("SerializationError")
    assert "max_output_bytes" in row.error
