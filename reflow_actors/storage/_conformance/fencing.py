"""Fencing: a write that needs the lease is refused by anyone who does not hold it."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from reflow_actors.records import RunStatus
from reflow_actors.storage._conformance._support import (
    DAY,
    Registry,
    claim,
    expect,
    expect_equal,
    expect_true,
    make_step,
    now_ms,
)
from reflow_actors.storage.base import StorageAdapter, SupportsCancel

__all__ = ["cases"]

cases = Registry()


def _accepted_writes(adapter: StorageAdapter, lease: str, run_id: str = "run_1") -> list[str]:
    """Try every lease-holding write with ``lease``; name those that were not refused."""
    writes: dict[str, Callable[[], bool]] = {
        "heartbeat_run": lambda: adapter.heartbeat_run(run_id, lease),
        "save_step_result": lambda: adapter.save_step_result(
            make_step("fenced", run_id=run_id), lease
        ),
        "sleep_run": lambda: adapter.sleep_run(run_id, lease, now_ms() + DAY),
        "wait_run": lambda: adapter.wait_run(run_id, lease, "e", None),
        "update_claimed_run_status": lambda: adapter.update_claimed_run_status(
            run_id, lease, RunStatus.COMPLETED
        ),
    }
    save_progress = getattr(adapter, "save_progress", None)
    if callable(save_progress):
        writes["save_progress"] = lambda: bool(
            save_progress(run_id, lease, [make_step("fenced", run_id=run_id)], RunStatus.COMPLETED)
        )
    return [name for name, write in writes.items() if write() is not False]


def _expect_fenced(adapter: StorageAdapter, lease: str, status: RunStatus, why: str) -> None:
    accepted = _accepted_writes(adapter, lease)
    expect_equal(accepted, [], f"writes accepted with a lease that is not held ({why})")
    stored = adapter.get_run("run_1")
    expect_equal(stored.status if stored else None, status, f"status after refused writes ({why})")
    names = [row.name for row in adapter.get_step_results("run_1")]
    expect("fenced" not in names, f"a refused save_step_result wrote a row ({why})")


@cases.case("every lease-holding write is refused with a wrong lease")
def _wrong_lease(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    _expect_fenced(adapter, "not-the-lease", RunStatus.RUNNING, "wrong lease")
    expect_true(adapter.heartbeat_run("run_1", lease), "the held lease still works")


@cases.case("lease-holding writes are refused once update_run_status cancelled the run")
def _after_cancel(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.update_run_status("run_1", RunStatus.CANCELLED)
    _expect_fenced(adapter, lease, RunStatus.CANCELLED, "cancelled")


@cases.case(
    "lease-holding writes are refused once cancel_run cancelled the run", needs="cancel_run"
)
def _after_cancel_run(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_true(cast(SupportsCancel, adapter).cancel_run("run_1"), "cancel_run")
    _expect_fenced(adapter, lease, RunStatus.CANCELLED, "cancel_run")


@cases.case("the old lease is refused after the run was requeued and claimed again")
def _after_requeue(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.update_claimed_run_status("run_1", lease, RunStatus.FAILED)
    expect_true(adapter.requeue_run("run_1"), "requeue_run")
    _expect_fenced(adapter, lease, RunStatus.PENDING, "requeued")
    again = adapter.claim_next_run(["test"])
    expect(again is not None and again.lease_id != lease, "the requeued run is claimed anew")
    _expect_fenced(adapter, lease, RunStatus.RUNNING, "requeued and reclaimed")


@cases.case("a stale reclaim fences the previous holder and the new lease works")
def _after_reclaim(adapter: StorageAdapter) -> None:
    old = claim(adapter)
    taken = adapter.claim_next_run(["test"], now_ms() + DAY)
    assert taken is not None
    assert taken.lease_id is not None
    expect(taken.lease_id != old, "a reclaim issues a new lease")
    _expect_fenced(adapter, old, RunStatus.RUNNING, "reclaimed by a stale claim")
    expect_true(adapter.heartbeat_run("run_1", taken.lease_id), "the new lease works")
    saved = adapter.save_step_result(make_step("mine"), taken.lease_id)
    expect_true(saved, "save_step_result with the new lease")


@cases.case("a lease released by sleep, wait or completion no longer writes")
def _after_release(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.sleep_run("run_1", lease, now_ms() + DAY)
    _expect_fenced(adapter, lease, RunStatus.SLEEPING, "after sleep_run")
    adapter.update_run_status("run_1", RunStatus.PENDING)
    lease = _reclaim(adapter)
    adapter.wait_run("run_1", lease, "e", None)
    _expect_fenced(adapter, lease, RunStatus.WAITING, "after wait_run")
    adapter.update_run_status("run_1", RunStatus.PENDING)
    lease = _reclaim(adapter)
    adapter.update_claimed_run_status("run_1", lease, RunStatus.COMPLETED)
    _expect_fenced(adapter, lease, RunStatus.COMPLETED, "after completion")


def _reclaim(adapter: StorageAdapter) -> str:
    claimed = adapter.claim_next_run(["test"])
    expect(claimed is not None and claimed.lease_id, "the pending run is claimable")
    assert claimed is not None
    assert claimed.lease_id is not None
    return claimed.lease_id
