"""Sleeping, waiting and buffered events (CF-23..32 and more)."""

from __future__ import annotations

from reflow_actors.records import RunStatus, TakenEvent
from reflow_actors.storage._conformance._support import (
    DAY,
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


def _status(adapter: StorageAdapter, run_id: str = "run_1") -> RunStatus | None:
    stored = adapter.get_run(run_id)
    return stored.status if stored else None


def _claimed_id(adapter: StorageAdapter) -> str | None:
    claimed = adapter.claim_next_run(["test"])
    return claimed.id if claimed else None


@cases.case("sleep_run suspends the run and releases it at the wake time")
def _sleep(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_true(adapter.sleep_run("run_1", lease, now_ms() - 1), "sleep_run")
    expect_equal(_status(adapter), RunStatus.SLEEPING, "status after sleep_run")
    woken = adapter.claim_next_run(["test"])
    expect_equal(woken.id if woken else None, "run_1", "claim after the wake time")
    assert woken is not None
    expect(woken.lease_id and woken.lease_id != lease, "the woken run has a new lease")


@cases.case("a sleeping run is not claimable before its wake time")
def _sleep_future(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.sleep_run("run_1", lease, now_ms() + 60_000)
    expect_equal(adapter.claim_next_run(["test"]), None, "claim before the wake time")


@cases.case("sleep_run requires the held lease")
def _sleep_lease(adapter: StorageAdapter) -> None:
    claim(adapter)
    expect_false(adapter.sleep_run("run_1", "not-the-lease", 1), "sleep, wrong lease")
    expect_equal(_status(adapter), RunStatus.RUNNING, "status after a refused sleep")


@cases.case("deliver_event buffers a payload that take_event then consumes once")
def _deliver(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    expect_true(adapter.deliver_event("run_1", "e", {"n": 1}), "deliver_event")
    expect_equal(adapter.take_event("run_1", "e"), TakenEvent({"n": 1}), "first take")
    expect_equal(adapter.take_event("run_1", "e"), None, "second take")


@cases.case("deliver_event reports a missing run")
def _deliver_missing(adapter: StorageAdapter) -> None:
    expect_false(adapter.deliver_event("missing", "e", {}), "deliver to a missing run")


@cases.case("take_event consumes the oldest matching event first")
def _fifo(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.deliver_event("run_1", "e", {"n": 1})
    adapter.deliver_event("run_1", "e", {"n": 2})
    expect_equal(adapter.take_event("run_1", "e"), TakenEvent({"n": 1}), "first take")
    expect_equal(adapter.take_event("run_1", "e"), TakenEvent({"n": 2}), "second take")


@cases.case("take_event does not cross event names or runs")
def _exact(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.create_run(make_run("other-run"))
    adapter.deliver_event("run_1", "e", {"n": 1})
    expect_equal(adapter.take_event("run_1", "other"), None, "take of another name")
    expect_equal(adapter.take_event("other-run", "e"), None, "take from another run")


@cases.case("wait_run suspends the run until an event wakes it")
def _wait(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_true(adapter.wait_run("run_1", lease, "e", None), "wait_run")
    expect_equal(_status(adapter), RunStatus.WAITING, "status after wait_run")
    expect_equal(adapter.claim_next_run(["test"]), None, "claim while waiting")
    adapter.deliver_event("run_1", "e", {"ok": True})
    expect_equal(_claimed_id(adapter), "run_1", "claim after delivery")


@cases.case("wait_run leaves the run reclaimable when a matching event is already buffered")
def _wait_race(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.deliver_event("run_1", "e", {"early": True})
    expect_true(adapter.wait_run("run_1", lease, "e", None), "wait_run")
    expect_equal(_status(adapter), RunStatus.PENDING, "status with the event buffered")
    expect_equal(_claimed_id(adapter), "run_1", "claim after wait_run")


@cases.case("a waiting run with a deadline becomes claimable once it passes")
def _wait_deadline(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.wait_run("run_1", lease, "e", now_ms() - 1)
    woken = adapter.claim_next_run(["test"])
    expect_equal(woken.id if woken else None, "run_1", "claim after the deadline")
    assert woken is not None
    expect(woken.lease_id and woken.lease_id != lease, "the woken run has a new lease")


@cases.case("sleep_run releases the lease and stamps updated_at")
def _sleep_releases(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    before = now_ms()
    adapter.sleep_run("run_1", lease, now_ms() + DAY)
    expect_false(adapter.heartbeat_run("run_1", lease), "heartbeat after sleep_run")
    stored = adapter.get_run("run_1")
    expect(stored is not None and stored.updated_at >= before, "sleep_run sets updated_at")


@cases.case("a due sleeping run stays sleeping until it is claimed")
def _sleep_until_claimed(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.sleep_run("run_1", lease, 1)
    expect_equal(_status(adapter), RunStatus.SLEEPING, "status of a due, unclaimed run")


@cases.case("wait_run requires the held lease")
def _wait_lease(adapter: StorageAdapter) -> None:
    claim(adapter)
    expect_false(adapter.wait_run("run_1", "not-the-lease", "e", None), "wrong lease")
    expect_equal(_status(adapter), RunStatus.RUNNING, "status after a refused wait")


@cases.case("deliver_event makes a waiting run pending and claimable with a new lease")
def _deliver_wakes(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.wait_run("run_1", lease, "e", now_ms() + DAY)
    adapter.deliver_event("run_1", "e", None)
    expect_equal(_status(adapter), RunStatus.PENDING, "status after delivery")
    woken = adapter.claim_next_run(["test"])
    assert woken is not None
    expect(woken.lease_id and woken.lease_id != lease, "the woken run has a new lease")


@cases.case("an event of another name also wakes a waiting run")
def _any_event_wakes(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.wait_run("run_1", lease, "e", None)
    adapter.deliver_event("run_1", "other", 1)
    expect_equal(_status(adapter), RunStatus.PENDING, "status after another event")


@cases.case("a waiting run is not woken by time without a deadline or before it")
def _wait_no_deadline(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.wait_run("run_1", lease, "e", None)
    second = claim(adapter, make_run("future", workflow="w2"))
    adapter.wait_run("future", second, "e", now_ms() + DAY)
    expect_equal(adapter.claim_next_run(["test", "w2"], now_ms() + DAY), None, "claim")


@cases.case("deliver_event leaves running and sleeping runs as they are")
def _deliver_untouched(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.deliver_event("run_1", "e", 1)
    expect_equal(_status(adapter), RunStatus.RUNNING, "running run after delivery")
    expect_true(adapter.heartbeat_run("run_1", lease), "lease after delivery")
    adapter.sleep_run("run_1", lease, now_ms() + DAY)
    adapter.deliver_event("run_1", "e", 2)
    expect_equal(_status(adapter), RunStatus.SLEEPING, "sleeping run after delivery")
    expect_equal(adapter.claim_next_run(["test"]), None, "claim of the sleeping run")


@cases.case("deliver_event buffers events for a finished run too")
def _deliver_terminal(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(status="completed"))
    expect_true(adapter.deliver_event("run_1", "e", 1), "deliver to a completed run")
    expect_equal(_status(adapter), RunStatus.COMPLETED, "status after delivery")
    expect_equal(adapter.take_event("run_1", "e"), TakenEvent(1), "take")


@cases.case("take_event takes each name's events in order and leaves other names alone")
def _per_name_fifo(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.deliver_event("run_1", "e", {"n": 1})
    adapter.deliver_event("run_1", "other", {"x": 9})
    adapter.deliver_event("run_1", "e", {"n": 2})
    takes = [adapter.take_event("run_1", "e") for _ in range(3)]
    expect_equal(takes, [TakenEvent({"n": 1}), TakenEvent({"n": 2}), None], "takes of 'e'")
    expect_equal(adapter.take_event("run_1", "other"), TakenEvent({"x": 9}), "take of 'other'")


@cases.case("an event delivered without a payload is taken with payload None")
def _none_payload(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.deliver_event("run_1", "e", None)
    taken = adapter.take_event("run_1", "e")
    expect(taken is not None, "an event with a None payload is still an event")
    expect_equal(taken, TakenEvent(None), "taken event")
