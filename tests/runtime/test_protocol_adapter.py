"""A user adapter that implements only the ``StorageAdapter`` Protocol (delegating to
``SQLiteStorage``, without the optional ``claim_runs`` / ``save_progress`` /
``cancel_run`` fast paths) runs workflows end to end: steps, retries, parallel
groups, durable sleep, waits for events, cancel and resume (API.md "Details the
contract fixes": "a user adapter delegating to SQLiteStorage must work").
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reflow_actors import Branch, Retry, create_workflow
from reflow_actors.storage import StorageAdapter

from .conftest import DelegatingStorage, Recorder, wait_until


def _adapter(rt) -> DelegatingStorage:
    adapter = DelegatingStorage(rt.sqlite())
    assert isinstance(adapter, StorageAdapter)
    for optional in ("claim_runs", "save_progress", "cancel_run"):
        assert not hasattr(adapter, optional)
    return adapter


def _everything(calls: dict[str, int]):
    def count(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    def flaky(ctx):
        count("flaky")
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return {"n": ctx.input["n"]}

    def branch_p(ctx):
        count("p")
        return ctx.prev["n"] * 2

    def branch_q(ctx):
        count("q")
        if ctx.attempt < 2:
            raise RuntimeError("q is flaky")
        return ctx.prev["n"] * 3

    def final(ctx):
        count("final")
        return {
            "approved": ctx.prev,
            "p": ctx.steps["p"],
            "q": ctx.steps["q"],
        }

    return (
        create_workflow("everything")
        .step("flaky", flaky, retry=Retry(max_attempts=2, initial_delay=0.01))
        .parallel(
            {"p": branch_p, "q": Branch(branch_q, retry=Retry(max_attempts=2, initial_delay=0))}
        )
        .sleep("nap", "50ms")
        .wait_for_event("approved")
        .step("final", final)
    )


@pytest.mark.timeout(15)
def test_a_protocol_only_adapter_runs_every_kind_of_unit(rt):
    calls: dict[str, int] = {}
    recorder = Recorder()
    engine = rt.engine(_adapter(rt), [_everything(calls)], hooks=recorder.hooks())
    engine.start(poll_interval=0.05)
    run = engine.enqueue("everything", {"n": 5})
    wait_until(lambda: engine.get_run_status(run.id).run.status == "waiting", timeout=5)
    assert engine.send_event(run.id, "approved", {"by": "ops"}) is True
    info = engine.wait(run.id, timeout=5)
    assert info.run.status == "completed"
    assert calls == {"flaky": 2, "p": 1, "q": 2, "final": 1}
    rows = {row.name: (row.status, row.output, row.attempts) for row in info.steps}
    assert rows["flaky"] == ("completed", {"n": 5}, 2)
    assert rows["p"] == ("completed", 10, 1)
    assert rows["q"] == ("completed", 15, 2)
    assert rows["nap"][0] == "completed"
    assert rows["approved"][:2] == ("completed", {"by": "ops"})
    assert rows["final"] == (
        "completed",
        {"approved": {"by": "ops"}, "p": 10, "q": 15},
        1,
    )
    wait_until(lambda: recorder.types(run.id)[-1:] == ["run_complete"])
    assert recorder.errors == []


@pytest.mark.timeout(15)
def test_a_protocol_only_adapter_takes_an_event_sent_before_the_wait(rt):
    calls: dict[str, int] = {}
    engine = rt.engine(_adapter(rt), [_everything(calls)])
    engine.start(poll_interval=0.05)
    run = engine.enqueue("everything", {"n": 1})
    assert engine.send_event(run.id, "approved", "early") is True
    info = engine.wait(run.id, timeout=5)
    assert info.run.status == "completed"
    assert info.step("final").output["approved"] == "early"


@pytest.mark.timeout(10)
def test_a_protocol_only_adapter_claims_up_to_the_concurrency(rt):
    barrier = threading.Barrier(3, timeout=3)
    wf = create_workflow("together").step("s", lambda ctx: barrier.wait() is not None)
    engine = rt.engine(_adapter(rt), [wf], concurrency=3)
    runs = [engine.enqueue(wf, None) for _ in range(4)]
    assert engine.tick() == 3
    statuses = [engine.get_run_status(run.id).run.status for run in runs]
    assert statuses.count("completed") == 3
    assert statuses.count("pending") == 1


@pytest.mark.timeout(10)
def test_a_protocol_only_adapter_supports_cancel_and_resume(rt):
    entered = threading.Event()
    attempts: list[int] = []
    outcome: dict[str, Any] = {"fail": True}

    def first(ctx):
        return "kept"

    def second(ctx):
        attempts.append(ctx.attempt)
        if outcome["fail"]:
            entered.set()
            ctx.signal.wait(10)
            ctx.signal.throw_if_aborted()
        return {"prev": ctx.prev}

    wf = create_workflow("cancel-resume").step("first", first).step("second", second)
    engine = rt.engine(_adapter(rt), [wf])
    run = engine.enqueue(wf, None)
    tick = rt.bg(engine.tick)
    assert entered.wait(5)
    assert engine.cancel(run.id) is True
    tick.result(timeout=3)
    assert engine.get_run_status(run.id).run.status == "cancelled"

    outcome["fail"] = False
    assert engine.resume(run.id) is True
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "completed"
    assert info.step("second").output == {"prev": "kept"}
    assert len(attempts) == 2
