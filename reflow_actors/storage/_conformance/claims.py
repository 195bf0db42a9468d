"""Claiming, leases and status changes (CF-6..13 and more)."""

from __future__ import annotations

import threading

from reflow_actors.records import RunStatus
from reflow_actors.storage._conformance._support import (
    Registry,
    claim,
    expect,
    expect_equal,
    expect_false,
    expect_true,
    make_run,
    now_ms,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = ["cases"]

cases = Registry()


@cases.case("claim_next_run marks the run running and issues a lease")
def _claim(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    stored = adapter.get_run("run_1")
    expect_equal(stored.status if stored else None, RunStatus.RUNNING, "status after claim")
    expect(lease, "the lease id is a non-empty string")


@cases.case("a claimed run cannot be claimed again")
def _no_double_claim(adapter: StorageAdapter) -> None:
    claim(adapter)
    expect_equal(adapter.claim_next_run(["test"]), None, "second claim")


@cases.case("claim_next_run only considers the named workflows")
def _named(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(workflow="other"))
    expect_equal(adapter.claim_next_run(["test"]), None, "claim via ['test']")
    claimed = adapter.claim_next_run(["other"])
    expect_equal(claimed.id if claimed else None, "run_1", "claim via ['other']")


@cases.case("claim_next_run returns None for an empty workflow list")
def _empty_names(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    expect_equal(adapter.claim_next_run([]), None, "claim_next_run([])")


@cases.case("claim_next_run reclaims a stale running run")
def _stale(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(status="running", created_at=1, updated_at=1))
    claimed = adapter.claim_next_run(["test"], 10)
    expect_equal(claimed.id if claimed else None, "run_1", "claim with stale_before=10")


@cases.case("heartbeat_run succeeds with the held lease and fails once it is lost")
def _heartbeat(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_true(adapter.heartbeat_run("run_1", lease), "heartbeat with the held lease")
    expect_false(adapter.heartbeat_run("run_1", "not-the-lease"), "heartbeat, wrong lease")


@cases.case("update_claimed_run_status respects the lease, update_run_status does not")
def _claimed_status(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    wrong = adapter.update_claimed_run_status("run_1", "not-the-lease", RunStatus.COMPLETED)
    expect_false(wrong, "update_claimed_run_status with a wrong lease")
    right = adapter.update_claimed_run_status("run_1", lease, RunStatus.COMPLETED)
    expect_true(right, "update_claimed_run_status with the held lease")
    stored = adapter.get_run("run_1")
    expect_equal(stored.status if stored else None, RunStatus.COMPLETED, "status")


@cases.case("update_run_status reports whether the run exists")
def _status_exists(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    expect_true(adapter.update_run_status("run_1", RunStatus.FAILED), "existing run")
    expect_false(adapter.update_run_status("missing", RunStatus.FAILED), "missing run")


@cases.case("claim_next_run returns None when no run is eligible")
def _nothing_eligible(adapter: StorageAdapter) -> None:
    expect_equal(adapter.claim_next_run(["test"]), None, "claim on an empty adapter")
    for run_id, status in (("c", "completed"), ("f", "failed"), ("x", "cancelled")):
        adapter.create_run(make_run(run_id, status=status))
    adapter.create_run(make_run("r", status="running"))
    expect_equal(adapter.claim_next_run(["test"]), None, "claim with only ineligible runs")


@cases.case("pending runs are claimed oldest first, ties in insertion order")
def _fifo(adapter: StorageAdapter) -> None:
    for run_id, created in (("x", 3_000), ("y", 1_000), ("z", 2_000), ("w", 2_000)):
        adapter.create_run(make_run(run_id, created_at=created))
    order = []
    for _ in range(4):
        claimed = adapter.claim_next_run(["test"])
        order.append(claimed.id if claimed else None)
    expect_equal(order, ["y", "z", "w", "x"], "claim order")


@cases.case("pending runs come first, then due sleeping or waiting runs, then stale ones")
def _groups(adapter: StorageAdapter) -> None:
    lease = claim(adapter, make_run("sleeper", created_at=1))
    expect_true(adapter.sleep_run("sleeper", lease, 1), "sleep_run")
    adapter.create_run(make_run("stale", status="running", created_at=0, updated_at=1))
    adapter.create_run(make_run("fresh", created_at=now_ms()))
    order = []
    for _ in range(3):
        claimed = adapter.claim_next_run(["test"], 10)
        order.append(claimed.id if claimed else None)
    expect_equal(order, ["fresh", "sleeper", "stale"], "claim order across groups")


@cases.case("a running run is reclaimed only once stale_before reaches its last update")
def _stale_threshold(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_equal(adapter.claim_next_run(["test"]), None, "claim without stale_before")
    early = adapter.claim_next_run(["test"], now_ms() - 60_000)
    expect_equal(early, None, "claim with stale_before older than the last update")
    late = adapter.claim_next_run(["test"], now_ms() + 60_000)
    expect_equal(late.id if late else None, "run_1", "claim with a newer stale_before")
    assert late is not None
    expect(late.lease_id and late.lease_id != lease, "a reclaim issues a new lease")


@cases.case("a claim returns the decoded input, the new lease and updated_at of the claim")
def _claimed_record(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(value={"x": 1}, created_at=5, updated_at=5))
    before = now_ms()
    claimed = adapter.claim_next_run(["test"])
    assert claimed is not None
    expect_equal(claimed.input, {"x": 1}, "claimed input")
    expect_equal(claimed.status, RunStatus.RUNNING, "claimed status")
    expect_equal(claimed.created_at, 5, "claimed created_at")
    expect(claimed.updated_at >= before, "a claim sets updated_at to now")
    stored = adapter.get_run("run_1")
    expect_equal(stored.updated_at if stored else None, claimed.updated_at, "stored updated_at")


@cases.case("claim_next_run claims across several named workflows")
def _several_workflows(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("a", workflow="alpha", created_at=1))
    adapter.create_run(make_run("b", workflow="beta", created_at=2))
    first = adapter.claim_next_run(["beta", "gamma"])
    expect_equal(first.id if first else None, "b", "claim via ['beta', 'gamma']")
    second = adapter.claim_next_run(["alpha", "beta"])
    expect_equal(second.id if second else None, "a", "claim via ['alpha', 'beta']")


@cases.case("eight threads claiming 40 runs claim each exactly once")
def _claim_race(adapter: StorageAdapter) -> None:
    for index in range(40):
        adapter.create_run(make_run(f"run_{index:02d}", created_at=index))
    barrier = threading.Barrier(8, timeout=30)
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            while (run := adapter.claim_next_run(["test"])) is not None:
                with lock:
                    claimed.append(run.id)
        except BaseException as error:  # reported below, in the case's own thread
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise AssertionError(f"claim_next_run raised under a race: {errors[0]!r}") from errors[0]
    expect_equal(sorted(claimed), [f"run_{index:02d}" for index in range(40)], "claimed ids")


@cases.case("heartbeat_run refreshes updated_at and fails for a missing run")
def _heartbeat_touch(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(created_at=1, updated_at=1))
    claimed = adapter.claim_next_run(["test"])
    assert claimed is not None
    assert claimed.lease_id is not None
    before = now_ms()
    expect_true(adapter.heartbeat_run("run_1", claimed.lease_id), "heartbeat")
    stored = adapter.get_run("run_1")
    expect(stored is not None and stored.updated_at >= before, "heartbeat sets updated_at")
    expect_false(adapter.heartbeat_run("missing", claimed.lease_id), "missing run")


@cases.case("update_run_status clears the lease, so the old holder can no longer write")
def _status_clears_lease(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_true(adapter.update_run_status("run_1", RunStatus.RUNNING), "update_run_status")
    late = adapter.update_claimed_run_status("run_1", lease, RunStatus.COMPLETED)
    expect_false(late, "update_claimed_run_status after update_run_status")


@cases.case("update_run_status moves a run to any status")
def _any_status(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    for status in (RunStatus.RUNNING, RunStatus.FAILED, RunStatus.COMPLETED):
        expect_true(adapter.update_run_status("run_1", status), f"to {status}")
        stored = adapter.get_run("run_1")
        expect_equal(stored.status if stored else None, status, "stored status")
    expect_equal(adapter.claim_next_run(["test"]), None, "claim of a completed run")


@cases.case("update_claimed_run_status keeps the lease only for running")
def _claimed_keeps_lease(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    still = adapter.update_claimed_run_status("run_1", lease, RunStatus.RUNNING)
    expect_true(still, "update_claimed_run_status(running)")
    expect_true(adapter.heartbeat_run("run_1", lease), "heartbeat after running")
    done = adapter.update_claimed_run_status("run_1", lease, RunStatus.PENDING)
    expect_true(done, "update_claimed_run_status(pending)")
    expect_false(adapter.heartbeat_run("run_1", lease), "heartbeat after release")
    again = adapter.claim_next_run(["test"])
    expect_equal(again.id if again else None, "run_1", "claim after release to pending")
