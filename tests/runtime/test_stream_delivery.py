"""``engine.stream()`` delivery: event order for one run, one stream for every
workflow, per-run order under concurrency with a bounded buffer, per-stream copies,
buffer size validation, closed streams and ``get(timeout=...)``
(reflow-ts §24 EV-1..EV-4, EV-11, EV-12, HK-11; API.md ``stream``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pytest

from reflow_actors import RunComplete, RunStart, StepComplete, StepStart, create_workflow
from reflow_actors.errors import ConfigError

from .conftest import Recorder, drain, wait_until


@pytest.mark.timeout(10)
def test_one_run_yields_its_lifecycle_events_in_order(rt):
    wf = (
        create_workflow("ordered")
        .step("a", lambda ctx: {"n": 1})
        .step("b", lambda ctx: {"n": ctx.prev["n"] + 1})
    )
    engine = rt.engine(rt.memory(), [wf])
    with engine.stream() as stream:
        run = engine.enqueue(wf, None)
        engine.tick()
        events = drain(stream)
    assert events == [
        RunStart(run.id, "ordered"),
        StepStart(run.id, "ordered", "a"),
        StepComplete(run.id, "ordered", "a", {"n": 1}, 1),
        StepStart(run.id, "ordered", "b"),
        StepComplete(run.id, "ordered", "b", {"n": 2}, 1),
        RunComplete(run.id, "ordered", {"n": 2}),
    ]


@pytest.mark.timeout(10)
def test_a_failed_run_streams_run_failed_with_a_copy_of_the_error_and_no_run_complete(rt):
    original = ValueError("the original")

    def fail(ctx):
        raise original

    failures: list[Any] = []
    wf = create_workflow("fails").step("bad", fail).on_failure(failures.append)
    engine = rt.engine(rt.memory(), [wf])
    with engine.stream() as stream:
        run = engine.enqueue(wf, None)
        engine.tick()
        events = drain(stream)
    assert [e.type for e in events] == ["run_start", "step_start", "run_failed"]
    failed = events[-1]
    assert (failed.run_id, failed.step_name) == (run.id, "bad")
    assert isinstance(failed.error, ValueError)
    assert str(failed.error) == "the original"
    assert failed.error is not original
    failed.error.args = ("mutated by a consumer",)
    assert str(failures[0].error) == "the original"


@pytest.mark.timeout(10)
def test_one_stream_sees_the_runs_of_every_workflow(rt):
    wf_a = create_workflow("wf-a").step("s", lambda ctx: "a")
    wf_b = create_workflow("wf-b").step("s", lambda ctx: "b")
    engine = rt.engine(rt.memory(), [wf_a, wf_b], concurrency=2)
    with engine.stream() as stream:
        run_a = engine.enqueue(wf_a, None)
        run_b = engine.enqueue(wf_b, None)
        assert engine.tick() == 2
        events = drain(stream)
    completes = {e.run_id: (e.workflow, e.output) for e in events if e.type == "run_complete"}
    assert completes == {run_a.id: ("wf-a", "a"), run_b.id: ("wf-b", "b")}
    assert {e.workflow for e in events if e.run_id == run_a.id} == {"wf-a"}
    assert {e.workflow for e in events if e.run_id == run_b.id} == {"wf-b"}


@pytest.mark.timeout(10)
def test_per_run_order_holds_with_concurrent_runs_and_a_bounded_buffer(rt):
    barrier = threading.Barrier(3, timeout=3)

    def handler(ctx):
        barrier.wait()  # the three runs really overlap
        return ctx.input

    wf = create_workflow("concurrent").step("s", handler)
    engine = rt.engine(rt.memory(), [wf], concurrency=3)
    stream = engine.stream(buffer_size=1)
    received: list[Any] = []

    def consume():
        for event in stream:
            received.append(event)
            if sum(e.type == "run_complete" for e in received) == 3:
                return

    with stream:
        consumer = rt.bg(consume)
        runs = [engine.enqueue(wf, i) for i in range(3)]
        assert engine.tick() == 3
        consumer.result(timeout=5)
    by_run: dict[str, list[str]] = defaultdict(list)
    for event in received:
        by_run[event.run_id].append(event.type)
    assert set(by_run) == {run.id for run in runs}
    for types in by_run.values():
        assert types == ["run_start", "step_start", "step_complete", "run_complete"]


@pytest.mark.timeout(10)
def test_each_stream_gets_its_own_copy_of_the_output(rt):
    wf = create_workflow("isolated").step("a", lambda ctx: {"nested": {"value": 1}})
    engine = rt.engine(rt.memory(), [wf])
    with engine.stream() as first, engine.stream() as second:
        engine.enqueue(wf, None)
        engine.tick()
        one = next(e for e in drain(first) if e.type == "step_complete")
        one.output["nested"]["value"] = 999
        two = next(e for e in drain(second) if e.type == "step_complete")
    assert two.output == {"nested": {"value": 1}}
    assert one.output is not two.output


@pytest.mark.timeout(10)
def test_hooks_and_streams_observe_the_same_events(rt):
    recorder = Recorder()
    wf = create_workflow("both").step("a", lambda ctx: 1).step("b", lambda ctx: 2)
    engine = rt.engine(rt.memory(), [wf], hooks=recorder.hooks())
    with engine.stream() as stream:
        engine.enqueue(wf, None)
        engine.tick()
        assert drain(stream) == recorder.events


@pytest.mark.timeout(5)
@pytest.mark.parametrize("size", [-1, 1.5, True, "3"])
def test_invalid_buffer_sizes_are_refused(rt, size):
    engine = rt.engine(rt.memory(), [])
    with pytest.raises(ConfigError):
        engine.stream(buffer_size=size)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("size", [None, 0, 1, 1000])
def test_valid_buffer_sizes_are_accepted(rt, size):
    engine = rt.engine(rt.memory(), [])
    with engine.stream(buffer_size=size) as stream:
        assert not stream.closed


@pytest.mark.timeout(5)
def test_iterating_a_closed_stream_ends_quietly(rt):
    wf = create_workflow("closed").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf])
    stream = engine.stream()
    engine.enqueue(wf, None)
    engine.tick()
    stream.close()
    assert stream.closed
    assert list(stream) == []  # buffered events were dropped by close()
    assert stream.get(timeout=0.01) is None
    stream.close()  # idempotent


@pytest.mark.timeout(5)
def test_get_with_a_timeout_raises_timeout_error_when_nothing_arrives(rt):
    engine = rt.engine(rt.memory(), [])
    with engine.stream() as stream, pytest.raises(TimeoutError):
        stream.get(timeout=0.05)


@pytest.mark.timeout(5)
def test_get_with_a_timeout_returns_an_event_that_arrives_in_time(rt):
    wf = create_workflow("arrives").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf])
    with engine.stream() as stream:
        engine.enqueue(wf, None)
        tick = rt.bg(engine.tick)
        first = stream.get(timeout=3)
        assert first.type == "run_start"
        tick.result()
        wait_until(lambda: engine.get_run_status(first.run_id).run.status == "completed")
