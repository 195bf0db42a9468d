"""The optional fast paths: ``claim_runs``, ``save_progress``, ``cancel_run``, ``consume_event``.

Each case needs its method and passes silently for an adapter without it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from reflow_actors.errors import SerializationError
from reflow_actors.records import RunStatus, StepResult, StepStatus, TakenEvent, WorkflowRun
from reflow_actors.storage._conformance._support import (
    DAY,
    Registry,
    claim,
    expect,
    expect_equal,
    expect_false,
    expect_raises,
    expect_true,
    ids,
    make_run,
    make_step,
    now_ms,
    step_names,
)
from reflow_actors.storage.base import (
    StorageAdapter,
    SupportsCancel,
    SupportsClaimBatch,
    SupportsConsumeEvent,
    SupportsProgress,
)

__all__ = ["cases"]

cases = Registry()


def _batch(adapter: StorageAdapter) -> SupportsClaimBatch:
    return cast(SupportsClaimBatch, adapter)


def _progress(adapter: StorageAdapter) -> SupportsProgress:
    return cast(SupportsProgress, adapter)


def _status(adapter: StorageAdapter, run_id: str = "run_1") -> RunStatus | None:
    stored = adapter.get_run(run_id)
    return stored.status if stored else None


# -- claim_runs ------------------------------------------------------------------------


@cases.case("claim_runs claims up to limit runs in claim order", needs="claim_runs")
def _claim_runs(adapter: StorageAdapter) -> None:
    for index in range(5):
        adapter.create_run(make_run(f"r{index}", created_at=index))
    first = _batch(adapter).claim_runs(["test"], 3)
    expect_equal(ids(claimed.run for claimed in first), ["r0", "r1", "r2"], "first batch")
    leases = {claimed.run.lease_id for claimed in first}
    expect(None not in leases and len(leases) == 3, "each claimed run has its own lease")
    expect(all(c.run.status is RunStatus.RUNNING for c in first), "claimed runs are running")
    second = _batch(adapter).claim_runs(["test"], 3)
    expect_equal(ids(claimed.run for claimed in second), ["r3", "r4"], "second batch")
    expect_equal(_batch(adapter).claim_runs(["test"], 3), [], "third batch")


@cases.case("claim_runs with an empty workflow list claims nothing", needs="claim_runs")
def _claim_runs_empty(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    expect_equal(_batch(adapter).claim_runs([], 5), [], "claim_runs([])")
    expect_equal(_status(adapter), RunStatus.PENDING, "status")


@cases.case("claim_runs takes pending, then due, then stale runs", needs="claim_runs")
def _claim_runs_groups(adapter: StorageAdapter) -> None:
    lease = claim(adapter, make_run("sleeper", created_at=1))
    adapter.sleep_run("sleeper", lease, 1)
    adapter.create_run(make_run("stale", status="running", created_at=0, updated_at=1))
    adapter.create_run(make_run("fresh", created_at=now_ms()))
    claimed = _batch(adapter).claim_runs(["test"], 5, 10)
    expect_equal(ids(c.run for c in claimed), ["fresh", "sleeper", "stale"], "claim order")


@cases.case("claim_runs returns each claimed run's step rows", needs="claim_runs")
def _claim_runs_rows(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.save_step_result(make_step("a", output=1, created_at=1))
    adapter.save_step_result(make_step("b", output=2, created_at=2))
    (claimed,) = _batch(adapter).claim_runs(["test"], 1)
    expect_equal([(row.name, row.output) for row in claimed.steps], [("a", 1), ("b", 2)], "rows")


@cases.case("claim_runs upserts the rows prepare returns, in the claim", needs="claim_runs")
def _claim_runs_prepare(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.save_step_result(make_step("a", status="failed", output=None, attempts=1))
    first_id = adapter.get_step_results("run_1")[0].id
    seen: list[tuple[WorkflowRun, list[StepResult]]] = []

    def prepare(run: WorkflowRun, rows: list[StepResult]) -> list[StepResult]:
        seen.append((run, rows))
        return [
            replace(rows[0], status=StepStatus.RUNNING, attempts=2),
            make_step("b", status="running", output=None, run_id=run.id),
        ]

    (claimed,) = _batch(adapter).claim_runs(["test"], 1, None, prepare)
    expect_equal(len(seen), 1, "prepare calls")
    run, rows = seen[0]
    expect_equal(
        (run.id, run.status, run.lease_id),
        ("run_1", "running", claimed.run.lease_id),
        "run passed to prepare",
    )
    expect_equal([row.name for row in rows], ["a"], "rows passed to prepare")
    summary = [(row.name, row.status, row.attempts) for row in claimed.steps]
    expect_equal(summary, [("a", "running", 2), ("b", "running", 1)], "rows after prepare")
    expect_equal(claimed.steps[0].id, first_id, "an upserted row keeps its id")
    stored = [(row.name, row.status, row.attempts) for row in adapter.get_step_results("run_1")]
    expect_equal(stored, summary, "stored rows")


@cases.case("a claim_runs whose prepare raises claims nothing", needs="claim_runs")
def _claim_runs_rollback(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("r0", created_at=1))
    adapter.create_run(make_run("r1", created_at=2))

    def prepare(run: WorkflowRun, _rows: list[StepResult]) -> list[StepResult]:
        if run.id == "r1":
            raise RuntimeError("prepare failed")
        return [make_step("a", run_id=run.id)]

    expect_raises(
        Exception,
        lambda: _batch(adapter).claim_runs(["test"], 2, None, prepare),
        "claim_runs with a failing prepare",
    )
    expect_equal(
        [_status(adapter, "r0"), _status(adapter, "r1")],
        [RunStatus.PENDING, RunStatus.PENDING],
        "statuses after the failed claim",
    )
    expect_equal(step_names(adapter, "r0"), [], "rows after the failed claim")


# -- save_progress ---------------------------------------------------------------------


@cases.case("save_progress writes rows and the new status at once", needs="save_progress")
def _progress_done(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    rows = [make_step("a"), make_step("b", status="completed-early", output=7)]
    saved = _progress(adapter).save_progress("run_1", lease, rows, RunStatus.COMPLETED)
    expect_true(saved, "save_progress")
    expect_equal(_status(adapter), RunStatus.COMPLETED, "status")
    expect_false(adapter.heartbeat_run("run_1", lease), "lease after completing")
    expect_equal(step_names(adapter), ["a", "b"], "rows")


@cases.case("save_progress without a status keeps the run and its lease", needs="save_progress")
def _progress_running(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_true(_progress(adapter).save_progress("run_1", lease, [make_step("a")]), "save")
    expect_true(adapter.heartbeat_run("run_1", lease), "lease after save_progress")
    running = _progress(adapter).save_progress("run_1", lease, [], RunStatus.RUNNING)
    expect_true(running, "save_progress(status=running)")
    expect_true(adapter.heartbeat_run("run_1", lease), "lease after status running")


@cases.case("save_progress with a wrong lease writes nothing", needs="save_progress")
def _progress_fenced(adapter: StorageAdapter) -> None:
    claim(adapter)
    refused = _progress(adapter).save_progress(
        "run_1", "nope", [make_step("a")], RunStatus.COMPLETED
    )
    expect_false(refused, "save_progress with a wrong lease")
    expect_equal((_status(adapter), step_names(adapter)), (RunStatus.RUNNING, []), "state")


@cases.case("save_progress with an unpersistable output writes nothing", needs="save_progress")
def _progress_atomic(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    rows = [make_step("a"), make_step("b", output={1, 2})]
    expect_raises(
        SerializationError,
        lambda: _progress(adapter).save_progress("run_1", lease, rows, RunStatus.COMPLETED),
        "save_progress with a set output",
    )
    expect_equal((_status(adapter), step_names(adapter)), (RunStatus.RUNNING, []), "state")


@cases.case("save_progress fills in a row's empty run_id", needs="save_progress")
def _progress_run_id(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    _progress(adapter).save_progress("run_1", lease, [make_step("a", run_id="")])
    expect_equal(step_names(adapter), ["a"], "rows of run_1")


# -- cancel_run ------------------------------------------------------------------------


@cases.case("cancel_run cancels pending, running, sleeping and waiting runs", needs="cancel_run")
def _cancel(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("pending"))
    lease = claim(adapter, make_run("running", workflow="w1"))
    sleeper = claim(adapter, make_run("sleeping", workflow="w2"))
    adapter.sleep_run("sleeping", sleeper, 1)
    waiter = claim(adapter, make_run("waiting", workflow="w3"))
    adapter.wait_run("waiting", waiter, "e", 1)
    for run_id in ("pending", "running", "sleeping", "waiting"):
        expect_true(cast(SupportsCancel, adapter).cancel_run(run_id), f"cancel {run_id}")
        expect_equal(_status(adapter, run_id), RunStatus.CANCELLED, f"status of {run_id}")
    names = ["test", "w1", "w2", "w3"]
    expect_equal(adapter.claim_next_run(names, now_ms() + DAY), None, "claim after cancelling")
    expect_false(adapter.heartbeat_run("running", lease), "lease after cancel_run")


@cases.case("cancel_run refuses finished and missing runs", needs="cancel_run")
def _cancel_refused(adapter: StorageAdapter) -> None:
    for status in ("completed", "failed", "cancelled"):
        adapter.create_run(make_run(status, status=status, created_at=1, updated_at=1))
        expect_false(cast(SupportsCancel, adapter).cancel_run(status), f"cancel {status}")
        stored = adapter.get_run(status)
        expect_equal(
            (stored.status, stored.updated_at) if stored else None,
            (RunStatus(status), 1),
            f"{status} run after cancel_run",
        )
    expect_false(cast(SupportsCancel, adapter).cancel_run("missing"), "cancel missing")


# -- consume_event ---------------------------------------------------------------------


def _consume(adapter: StorageAdapter) -> SupportsConsumeEvent:
    return cast(SupportsConsumeEvent, adapter)


def _record(payload: Any) -> list[StepResult]:
    return [make_step("approval", output=payload)]


@cases.case(
    "consume_event takes the oldest event and records its rows in one go", needs="consume_event"
)
def _consume_event(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.deliver_event("run_1", "approval", {"n": 1})
    adapter.deliver_event("run_1", "approval", {"n": 2})
    taken = _consume(adapter).consume_event("run_1", lease, "approval", _record)
    expect_equal(taken, TakenEvent({"n": 1}), "consumed event")
    rows = adapter.get_step_results("run_1")
    expect_equal([(row.name, row.output) for row in rows], [("approval", {"n": 1})], "rows")
    expect_equal(adapter.take_event("run_1", "approval"), TakenEvent({"n": 2}), "next event")


@cases.case("consume_event without a buffered event changes nothing", needs="consume_event")
def _consume_nothing(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    calls: list[Any] = []
    adapter.deliver_event("run_1", "other", 1)

    def rows(payload: Any) -> list[StepResult]:
        calls.append(payload)
        return _record(payload)

    expect_equal(_consume(adapter).consume_event("run_1", lease, "approval", rows), None, "taken")
    expect_equal((calls, step_names(adapter)), ([], []), "rows callback calls, rows")
    expect_equal(adapter.take_event("run_1", "other"), TakenEvent(1), "the other event")


@cases.case("consume_event with a lease that is not held takes nothing", needs="consume_event")
def _consume_fenced(adapter: StorageAdapter) -> None:
    claim(adapter)
    adapter.deliver_event("run_1", "approval", {"ok": True})
    taken = _consume(adapter).consume_event("run_1", "not-the-lease", "approval", _record)
    expect_equal(taken, None, "consume_event with a wrong lease")
    expect_equal(step_names(adapter), [], "rows")
    expect_equal(adapter.take_event("run_1", "approval"), TakenEvent({"ok": True}), "event kept")


@cases.case(
    "a consume_event whose rows cannot be stored leaves the event buffered", needs="consume_event"
)
def _consume_atomic(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.deliver_event("run_1", "approval", {"ok": True})
    expect_raises(
        SerializationError,
        lambda: _consume(adapter).consume_event(
            "run_1", lease, "approval", lambda _payload: [make_step("a", output={1})]
        ),
        "consume_event with an unpersistable row",
    )

    def broken(_payload: Any) -> list[StepResult]:
        raise RuntimeError("rows failed")

    expect_raises(
        Exception,
        lambda: _consume(adapter).consume_event("run_1", lease, "approval", broken),
        "consume_event with a failing rows callback",
    )
    expect_equal(step_names(adapter), [], "rows")
    expect_equal(adapter.take_event("run_1", "approval"), TakenEvent({"ok": True}), "event kept")
