"""Bounded streams and their lifecycle: backpressure holds a run until the consumer
pulls, ``buffer_size=0`` is a rendezvous, streams are independent, closing
unsubscribes, ``stop()`` ends iterations after buffered events, a stream made after
``stop()`` works, and cancel / stop release a run paused on backpressure
(reflow-ts §24 EV-5..EV-10, EV-14, CN-4; API.md ``stream``).
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import VirtualClock, create_workflow

from .conftest import Recorder, stays_false, wait_until

LIFECYCLE = ["run_start", "step_start", "step_complete", "run_complete"]


def _counting_steps(name: str, count: int, calls: list[str]):
    wf = create_workflow(name)
    for index in range(count):
        step = f"s{index}"
        wf = wf.step(step, lambda ctx, step=step: calls.append(step) or step)
    return wf


@pytest.mark.timeout(10)
def test_a_full_buffer_holds_the_run_until_the_consumer_drains_it(rt):
    calls: list[str] = []
    wf = _counting_steps("backpressure", 3, calls)
    engine = rt.engine(rt.memory(), [wf])
    with engine.stream(buffer_size=1) as stream:
        run = engine.enqueue(wf, None)
        tick = rt.bg(engine.tick)
        stays_false(lambda: tick.done or calls, 0.3, message="the run went on with a full buffer")
        assert engine.get_run_status(run.id).run.status == "running"
        types = []
        for event in stream:
            types.append(event.type)
            if event.type == "run_complete":
                break
        assert tick.result() == 1
    assert types == ["run_start"] + ["step_start", "step_complete"] * 3 + ["run_complete"]
    assert calls == ["s0", "s1", "s2"]
    assert engine.get_run_status(run.id).run.status == "completed"


@pytest.mark.timeout(10)
def test_buffer_size_zero_hands_each_event_to_a_waiting_consumer(rt):
    calls: list[str] = []
    wf = _counting_steps("rendezvous", 1, calls)
    engine = rt.engine(rt.memory(), [wf])
    with engine.stream(buffer_size=0) as stream:
        engine.enqueue(wf, None)
        tick = rt.bg(engine.tick)
        stays_false(lambda: calls, 0.2, message="the handler ran before any pull")
        assert stream.get(timeout=3).type == "run_start"
        stays_false(lambda: calls, 0.1, message="the handler ran before step_start was pulled")
        assert stream.get(timeout=3).type == "step_start"
        wait_until(lambda: calls == ["s0"])
        rest = [stream.get(timeout=3).type, stream.get(timeout=3).type]
        assert tick.result() == 1
    assert rest == ["step_complete", "run_complete"]


@pytest.mark.timeout(10)
def test_the_buffer_never_holds_more_than_its_capacity(rt):
    step_start_hooked = threading.Event()
    recorder = Recorder()
    hooks = recorder.hooks(on_step_start=lambda event: step_start_hooked.set())
    wf = create_workflow("capacity").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf], hooks=hooks)
    stream = engine.stream(buffer_size=1)
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert step_start_hooked.wait(5)
    engine.stop(timeout=5)
    tick.result()
    assert [event.type for event in stream] == ["run_start"]  # the blocked step_start is dropped
    assert engine.get_run_status(run.id).run.status == "running"


@pytest.mark.timeout(10)
def test_a_stalled_stream_does_not_withhold_events_from_another_stream(rt):
    wf = create_workflow("independent").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf])
    blocked = engine.stream(buffer_size=0)  # subscribed first, never read
    with engine.stream() as observing:
        engine.enqueue(wf, None)
        tick = rt.bg(engine.tick)
        try:
            first = observing.get(timeout=1)
        finally:
            blocked.close()
        observed = [first.type]
        for event in observing:
            observed.append(event.type)
            if event.type == "run_complete":
                break
        tick.result()
    assert observed == LIFECYCLE


@pytest.mark.timeout(10)
def test_closing_a_stalled_stream_lets_the_other_streams_and_the_run_go_on(rt):
    wf = create_workflow("independent").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf])
    with engine.stream() as observing:
        blocked = engine.stream(buffer_size=0)
        run = engine.enqueue(wf, None)
        tick = rt.bg(engine.tick)
        assert observing.get(timeout=3).type == "run_start"
        stays_false(lambda: tick.done, 0.1, message="the run ignored the stalled stream")
        blocked.close()
        observed = ["run_start"]
        for event in observing:
            observed.append(event.type)
            if event.type == "run_complete":
                break
        assert tick.result() == 1
    assert observed == LIFECYCLE
    assert engine.get_run_status(run.id).run.status == "completed"


@pytest.mark.timeout(10)
def test_a_closed_stream_no_longer_applies_backpressure(rt):
    wf = create_workflow("unsubscribed").step("a", lambda ctx: 1).step("b", lambda ctx: 2)
    engine = rt.engine(rt.memory(), [wf])
    stream = engine.stream(buffer_size=1)
    first = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    for _ in stream:
        break  # a consumer that leaves after one event...
    stream.close()  # ...and closes its stream: the paused run goes on
    assert tick.result(timeout=3) == 1
    assert engine.get_run_status(first.id).run.status == "completed"
    second = engine.enqueue(wf, None)
    assert rt.bg(engine.tick).result(timeout=3) == 1
    assert engine.get_run_status(second.id).run.status == "completed"


@pytest.mark.timeout(10)
def test_stop_ends_open_iterations_after_their_buffered_events(rt):
    wf = create_workflow("stop-ends").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf])
    stream = engine.stream()
    received: list[str] = []

    def consume():
        for event in stream:
            received.append(event.type)
        return "ended"

    consumer = rt.bg(consume)
    engine.enqueue(wf, None)
    engine.tick()
    wait_until(lambda: len(received) == 4)
    assert not consumer.done  # still waiting for more
    engine.stop(timeout=5)
    assert consumer.result(timeout=3) == "ended"
    assert received == LIFECYCLE
    assert stream.closed


@pytest.mark.timeout(10)
def test_events_buffered_before_stop_can_still_be_read(rt):
    wf = create_workflow("buffered").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf])
    stream = engine.stream()
    engine.enqueue(wf, None)
    engine.tick()
    engine.stop(timeout=5)
    assert [event.type for event in stream] == LIFECYCLE


@pytest.mark.timeout(10)
def test_a_stream_created_after_stop_works_with_a_new_tick(rt):
    wf = create_workflow("after-stop").step("a", lambda ctx: 1)
    engine = rt.engine(rt.memory(), [wf])
    old = engine.stream()
    engine.enqueue(wf, None)
    engine.tick()
    engine.stop(timeout=5)
    assert [event.type for event in old] == LIFECYCLE  # then it ended
    with engine.stream() as fresh:
        run = engine.enqueue(wf, None)
        assert engine.tick() == 1
        events = [fresh.get(timeout=3) for _ in range(4)]
    assert [event.type for event in events] == LIFECYCLE
    assert {event.run_id for event in events} == {run.id}
    assert old.get(timeout=0.01) is None


@pytest.mark.timeout(10)
def test_stop_ends_a_stream_even_if_the_engine_never_ran(rt):
    engine = rt.engine(rt.memory(), [create_workflow("idle").step("a", lambda ctx: 1)])
    stream = engine.stream()
    engine.stop(timeout=5)
    assert stream.closed
    assert stream.get(timeout=1) is None


def _paused_on_backpressure(rt, engine, recorder_entered: threading.Event, wf):
    stream = engine.stream(buffer_size=1)
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert recorder_entered.wait(5)  # run_start is buffered; step_start waits for room
    return stream, run, tick


@pytest.mark.timeout(10)
def test_cancel_releases_a_run_paused_on_backpressure(rt):
    calls: list[str] = []
    entered = threading.Event()
    wf = _counting_steps("cancel-bp", 2, calls)
    engine = rt.engine(
        rt.memory(), [wf], hooks=Recorder().hooks(on_step_start=lambda e: entered.set())
    )
    stream, run, tick = _paused_on_backpressure(rt, engine, entered, wf)
    with stream:
        assert engine.cancel(run.id) is True
        assert tick.result(timeout=2) == 1
        assert engine.get_run_status(run.id).run.status == "cancelled"
        assert calls == []
    follow_up = engine.enqueue(wf, None)  # the engine keeps working
    assert rt.bg(engine.tick).result(timeout=3) == 1
    assert engine.get_run_status(follow_up.id).run.status == "completed"


@pytest.mark.timeout(10)
def test_stop_releases_a_run_paused_on_backpressure_and_leaves_it_reclaimable(rt):
    calls: list[str] = []
    entered = threading.Event()
    clock = VirtualClock()
    wf = _counting_steps("stop-bp", 2, calls)
    engine = rt.engine(
        rt.memory(clock=clock),
        [wf],
        clock=clock,
        hooks=Recorder().hooks(on_step_start=lambda e: entered.set()),
    )
    stream, run, tick = _paused_on_backpressure(rt, engine, entered, wf)
    rt.bg(engine.stop).result(timeout=3)
    tick.result(timeout=2)
    stream.close()
    assert engine.get_run_status(run.id).run.status == "running"
    assert calls == []
    clock.advance(31)  # past the default 30 s lease
    assert engine.tick() == 1
    assert engine.get_run_status(run.id).run.status == "completed"
    assert calls == ["s0", "s1"]
