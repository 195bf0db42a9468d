"""Runs: creation, idempotency, listing and requeue (CF-1..5, CF-14..18 and more)."""

from __future__ import annotations

import threading
from dataclasses import replace

from reflow_actors.records import CreatedRun, RunStatus
from reflow_actors.storage._conformance._support import (
    Registry,
    claim,
    expect,
    expect_equal,
    expect_false,
    expect_true,
    ids,
    make_run,
    make_step,
    now_ms,
    step_names,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = ["cases"]

cases = Registry()


@cases.case("create_run stores a run and reports it as created")
def _create(adapter: StorageAdapter) -> None:
    result = adapter.create_run(make_run())
    expect_true(result.created, "created")
    expect_equal(result.run.id, "run_1", "returned run id")
    stored = adapter.get_run("run_1")
    expect(stored is not None, "get_run should find the created run")
    assert stored is not None
    expect_equal(stored.status, RunStatus.PENDING, "stored status")


@cases.case("get_run returns None for an unknown id")
def _get_unknown(adapter: StorageAdapter) -> None:
    expect_equal(adapter.get_run("missing"), None, "get_run('missing')")


@cases.case("create_run round-trips input through serialization")
def _input_round_trip(adapter: StorageAdapter) -> None:
    value = {"s": "x", "n": 1, "b": True, "nil": None, "nested": {"list": [1, 2]}}
    adapter.create_run(make_run(value=value))
    stored = adapter.get_run("run_1")
    expect_equal(stored.input if stored else None, value, "stored input")


@cases.case("create_run returns the existing run for a reused idempotency key")
def _idempotent(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("a", key="k"))
    second = adapter.create_run(make_run("b", key="k"))
    expect_false(second.created, "created for a reused key")
    expect_equal(second.run.id, "a", "run returned for a reused key")
    expect_equal(adapter.get_run("b"), None, "the second run must not be stored")


@cases.case("idempotency keys are scoped per workflow")
def _key_scope(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("a", workflow="one", key="k"))
    second = adapter.create_run(make_run("b", workflow="two", key="k"))
    expect_true(second.created, "created for the same key in another workflow")


@cases.case("create_run stores status and timestamps exactly as given")
def _as_given(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(status="failed", created_at=5, updated_at=6))
    stored = adapter.get_run("run_1")
    assert stored is not None
    expect_equal(
        (stored.status, stored.created_at, stored.updated_at),
        (RunStatus.FAILED, 5, 6),
        "status, created_at, updated_at",
    )


@cases.case("create_run drops any lease the record carries")
def _create_drops_lease(adapter: StorageAdapter) -> None:
    adapter.create_run(replace(make_run(status="running"), lease_id="smuggled"))
    expect_false(adapter.heartbeat_run("run_1", "smuggled"), "heartbeat with a smuggled lease")
    stored = adapter.get_run("run_1")
    expect_equal(stored.lease_id if stored else "missing", None, "stored lease")


@cases.case("a reused idempotency key returns the stored run, not the new input")
def _key_keeps_first(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("a", key="k", value={"v": 1}))
    again = adapter.create_run(make_run("b", key="k", value={"v": 2}))
    expect_equal(again.run.input, {"v": 1}, "input of the existing run")
    expect_equal(ids(adapter.list_runs()), ["a"], "stored runs")


@cases.case("runs without an idempotency key are never deduplicated")
def _no_key(adapter: StorageAdapter) -> None:
    first = adapter.create_run(make_run("a"))
    second = adapter.create_run(make_run("b"))
    expect_equal((first.created, second.created), (True, True), "created flags")


@cases.case("eight threads creating one idempotency key at once create exactly one run")
def _key_race(adapter: StorageAdapter) -> None:
    workers = 8
    barrier = threading.Barrier(workers, timeout=30)
    results: list[CreatedRun] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def create(index: int) -> None:
        try:
            barrier.wait()
            result = adapter.create_run(make_run(f"run_{index}", key="same", value={"i": index}))
            with lock:
                results.append(result)
        except BaseException as error:  # reported below, in the case's own thread
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=create, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise AssertionError(f"create_run raised under a key race: {errors[0]!r}") from errors[0]
    expect_equal(len(results), workers, "calls that returned")
    expect_equal(sum(result.created for result in results), 1, "calls that created")
    expect_equal(len({result.run.id for result in results}), 1, "distinct run ids returned")
    expect_equal(len(adapter.list_runs()), 1, "runs stored")


@cases.case("get_run never shows the lease")
def _get_hides_lease(adapter: StorageAdapter) -> None:
    claim(adapter)
    stored = adapter.get_run("run_1")
    assert stored is not None
    expect_equal((stored.status, stored.lease_id), (RunStatus.RUNNING, None), "status, lease")


# -- list_runs -------------------------------------------------------------------------


@cases.case("list_runs returns runs newest first")
def _list_order(adapter: StorageAdapter) -> None:
    for run_id, created in (("a", 1), ("b", 2), ("c", 3)):
        adapter.create_run(make_run(run_id, created_at=created))
    expect_equal(ids(adapter.list_runs()), ["c", "b", "a"], "list_runs()")


@cases.case("list_runs filters by status and workflow")
def _list_filters(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("a", status="failed", created_at=1))
    adapter.create_run(make_run("b", workflow="other", created_at=2))
    expect_equal(ids(adapter.list_runs(status=RunStatus.FAILED)), ["a"], "status=failed")
    expect_equal(ids(adapter.list_runs(workflow="other")), ["b"], "workflow=other")


@cases.case("list_runs paginates exactly when runs share a created_at")
def _list_ties(adapter: StorageAdapter) -> None:
    for run_id in ("a", "b", "c"):
        adapter.create_run(make_run(run_id, created_at=1))
    first = adapter.list_runs(limit=2)
    expect_equal(len(first), 2, "first page size")
    last = first[-1]
    rest = adapter.list_runs(limit=2, before=last.created_at, before_id=last.id)
    expect_equal(sorted(ids(first + rest)), ["a", "b", "c"], "runs seen over both pages")


@cases.case("list_runs pages 25 runs sharing one created_at 7 at a time, each exactly once")
def _list_keyset(adapter: StorageAdapter) -> None:
    expected = [f"r{index:02d}" for index in range(25)]
    for run_id in expected:
        adapter.create_run(make_run(run_id, created_at=1_000))
    seen: list[str] = []
    page = adapter.list_runs(limit=7)
    while page:
        expect(len(page) <= 7, f"a page holds at most 7 runs, got {len(page)}")
        seen.extend(ids(page))
        page = adapter.list_runs(limit=7, before=page[-1].created_at, before_id=page[-1].id)
    expect_equal(seen, sorted(expected, reverse=True), "ids over all pages")


@cases.case("list_runs with before alone keeps strictly older runs")
def _list_before(adapter: StorageAdapter) -> None:
    for run_id, created in (("a", 1), ("b", 2), ("c", 3)):
        adapter.create_run(make_run(run_id, created_at=created))
    expect_equal(ids(adapter.list_runs(limit=2)), ["c", "b"], "limit=2")
    expect_equal(ids(adapter.list_runs(before=2)), ["a"], "before=2")


@cases.case("list_runs before_id continues after that run among equal timestamps")
def _list_before_id(adapter: StorageAdapter) -> None:
    for run_id in ("a", "b", "c"):
        adapter.create_run(make_run(run_id, created_at=5))
    adapter.create_run(make_run("d", created_at=4))
    expect_equal(ids(adapter.list_runs(before=5, before_id="b")), ["a", "d"], "after (5, 'b')")


@cases.case("list_runs combines status, workflow and limit")
def _list_combined(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("a", status="failed", created_at=1))
    adapter.create_run(make_run("b", status="failed", workflow="other", created_at=2))
    adapter.create_run(make_run("c", status="failed", created_at=3))
    adapter.create_run(make_run("d", created_at=4))
    found = adapter.list_runs(status=RunStatus.FAILED, workflow="test", limit=1)
    expect_equal(ids(found), ["c"], "failed runs of 'test', limit 1")


@cases.case("list_runs returns an empty list when nothing matches")
def _list_empty(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    expect_equal(adapter.list_runs(workflow="nope"), [], "list_runs(workflow='nope')")


# -- requeue_run -----------------------------------------------------------------------


@cases.case("requeue_run resets a failed run and discards only its failed steps")
def _requeue(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(status="failed"))
    adapter.save_step_result(make_step("a", step_id="s1"))
    adapter.save_step_result(make_step("b", step_id="s2", status="failed", output=None))
    expect_true(adapter.requeue_run("run_1"), "requeue_run(failed run)")
    stored = adapter.get_run("run_1")
    expect_equal(stored.status if stored else None, RunStatus.PENDING, "status after requeue")
    expect_equal(step_names(adapter), ["a"], "step rows after requeue")


@cases.case("requeue_run refuses a run that is not in a resumable state")
def _requeue_refused(adapter: StorageAdapter) -> None:
    claim(adapter)
    expect_false(adapter.requeue_run("run_1"), "requeue_run(running run)")
    expect_false(adapter.requeue_run("missing"), "requeue_run('missing')")


@cases.case("a requeued failed run keeps its completed steps and can be claimed again")
def _requeue_claimable(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(status="failed"))
    adapter.save_step_result(make_step("ok"))
    adapter.save_step_result(make_step("bad", status="failed", output=None, error="Boom"))
    before = now_ms()
    expect_true(adapter.requeue_run("run_1"), "requeue_run(failed run)")
    stored = adapter.get_run("run_1")
    assert stored is not None
    expect(stored.updated_at >= before, "requeue_run sets updated_at to now")
    expect_equal(step_names(adapter), ["ok"], "step rows after requeue")
    claimed = adapter.claim_next_run(["test"])
    expect_equal(claimed.id if claimed else None, "run_1", "claim after requeue")


@cases.case("requeue_run resets a cancelled run to pending")
def _requeue_cancelled(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(status="cancelled"))
    expect_true(adapter.requeue_run("run_1"), "requeue_run(cancelled run)")
    stored = adapter.get_run("run_1")
    expect_equal(stored.status if stored else None, RunStatus.PENDING, "status")


@cases.case("requeue_run leaves pending, completed and running runs as they were")
def _requeue_other_states(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("p"))
    adapter.create_run(make_run("c", status="completed"))
    adapter.create_run(make_run("r", workflow="busy"))
    adapter.claim_next_run(["busy"])
    for run_id, status in (("p", "pending"), ("c", "completed"), ("r", "running")):
        expect_false(adapter.requeue_run(run_id), f"requeue_run({status} run)")
        stored = adapter.get_run(run_id)
        expect_equal(stored.status if stored else None, RunStatus(status), f"{status} run status")
