"""Durable schedules: cadence kept or reset, occurrences claimed once (CF-33..47 and more)."""

from __future__ import annotations

from datetime import datetime, timezone

from reflow_actors.storage._conformance._support import (
    Registry,
    expect,
    expect_equal,
    expect_false,
    expect_true,
    make_schedule,
    now_ms,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = ["cases"]

cases = Registry()


def _utc_ms(day: int, hour: int, minute: int) -> int:
    """Epoch ms of a March 2026 time (UTC)."""
    return int(datetime(2026, 3, day, hour, minute, tzinfo=timezone.utc).timestamp() * 1000)


def _stored_next(adapter: StorageAdapter, key: str = "nightly") -> int | None:
    for schedule in adapter.list_schedules():
        if schedule.key == key:
            return schedule.next_run_at
    return None


@cases.case("upsert_schedule registers a schedule that list_schedules returns")
def _register(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule())
    schedules = adapter.list_schedules()
    expect_equal(len(schedules), 1, "schedule count")
    expect_equal(schedules[0].input, {"olderThanDays": 30}, "schedule input")
    expect_equal((schedules[0].every, schedules[0].cron), (60.0, None), "recurrence")


@cases.case("upsert_schedule preserves the cadence when the interval is unchanged")
def _keep_interval(adapter: StorageAdapter) -> None:
    first = adapter.upsert_schedule(make_schedule(next_run_at=5_000))
    second = adapter.upsert_schedule(
        make_schedule(next_run_at=900_000, value={"olderThanDays": 90})
    )
    expect_equal(second.next_run_at, first.next_run_at, "next_run_at after an update")
    expect_equal(second.input, {"olderThanDays": 90}, "input after an update")


@cases.case("upsert_schedule resets the cadence when the interval changes")
def _reset_interval(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(next_run_at=5_000))
    second = adapter.upsert_schedule(make_schedule(every=120.0, next_run_at=900_000))
    expect_equal(second.next_run_at, 900_000, "next_run_at after a new interval")
    expect_equal((second.every, second.cron), (120.0, None), "recurrence")


@cases.case("claim_due_schedule advances past now and reports the occurrence it fired for")
def _advance(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(every=0.1, next_run_at=1_000))
    claimed = adapter.claim_due_schedule(["test"], 1_250)
    expect_equal(claimed.next_run_at if claimed else None, 1_000, "claimed occurrence")
    expect_equal(_stored_next(adapter), 1_300, "stored next_run_at")


@cases.case("an occurrence can only be claimed once")
def _once(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(every=100.0, next_run_at=1_000))
    expect(adapter.claim_due_schedule(["test"], 1_000) is not None, "first claim")
    expect_equal(adapter.claim_due_schedule(["test"], 1_000), None, "second claim")


@cases.case("claim_due_schedule ignores schedules that are not yet due")
def _not_due(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(next_run_at=10_000))
    expect_equal(adapter.claim_due_schedule(["test"], 9_999), None, "claim before due")


@cases.case("claim_due_schedule only considers the named workflows")
def _named(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(workflow="elsewhere", next_run_at=1_000))
    expect_equal(adapter.claim_due_schedule(["test"], 5_000), None, "claim via ['test']")
    claimed = adapter.claim_due_schedule(["elsewhere"], 5_000)
    expect_equal(claimed.key if claimed else None, "nightly", "claim via ['elsewhere']")


@cases.case("claim_due_schedule returns None for an empty workflow list")
def _empty_names(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(next_run_at=1_000))
    expect_equal(adapter.claim_due_schedule([], 5_000), None, "claim_due_schedule([])")


@cases.case("upsert_schedule round-trips a cron recurrence")
def _cron(adapter: StorageAdapter) -> None:
    stored = adapter.upsert_schedule(make_schedule(cron="0 9 * * 1-5"))
    expect_equal((stored.every, stored.cron), (None, "0 9 * * 1-5"), "returned recurrence")
    listed = adapter.list_schedules()[0]
    expect_equal((listed.every, listed.cron), (None, "0 9 * * 1-5"), "listed recurrence")


@cases.case("upsert_schedule preserves the cadence when the cron expression is unchanged")
def _keep_cron(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(cron="0 9 * * 1-5", next_run_at=5_000))
    again = adapter.upsert_schedule(make_schedule(cron="0 9 * * 1-5", next_run_at=900_000))
    expect_equal(again.next_run_at, 5_000, "next_run_at for the same cron")


@cases.case("upsert_schedule resets the cadence when the cron expression changes")
def _reset_cron(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(cron="0 9 * * *", next_run_at=5_000))
    again = adapter.upsert_schedule(make_schedule(cron="0 10 * * *", next_run_at=900_000))
    expect_equal(again.next_run_at, 900_000, "next_run_at for a new cron")
    expect_equal(again.cron, "0 10 * * *", "cron")


@cases.case("switching between interval and cron resets the cadence")
def _switch(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(every=60.0, next_run_at=5_000))
    switched = adapter.upsert_schedule(make_schedule(cron="0 9 * * *", next_run_at=900_000))
    expect_equal(switched.next_run_at, 900_000, "next_run_at after switching to cron")
    expect_equal((switched.every, switched.cron), (None, "0 9 * * *"), "recurrence")
    back = adapter.upsert_schedule(make_schedule(every=60.0, next_run_at=7_000))
    expect_equal(back.next_run_at, 7_000, "next_run_at after switching back")
    expect_equal((back.every, back.cron), (60.0, None), "recurrence after switching back")


@cases.case("claim_due_schedule advances a cron schedule to its next occurrence")
def _cron_advance(adapter: StorageAdapter) -> None:
    due = _utc_ms(10, 9, 0)
    adapter.upsert_schedule(make_schedule(cron="0 9 * * *", next_run_at=due))
    claimed = adapter.claim_due_schedule(["test"], _utc_ms(10, 9, 1))
    expect_equal(claimed.next_run_at if claimed else None, due, "claimed occurrence")
    expect_equal(_stored_next(adapter), _utc_ms(11, 9, 0), "stored next_run_at")


@cases.case("delete_schedule reports whether it removed anything")
def _delete(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule())
    expect_true(adapter.delete_schedule("nightly"), "first delete")
    expect_false(adapter.delete_schedule("nightly"), "second delete")
    expect_equal(adapter.list_schedules(), [], "schedules after delete")


@cases.case("list_schedules is ordered by key")
def _order(adapter: StorageAdapter) -> None:
    for key in ("c", "a", "b"):
        adapter.upsert_schedule(make_schedule(key))
    expect_equal([s.key for s in adapter.list_schedules()], ["a", "b", "c"], "keys")


@cases.case("upsert_schedule keeps created_at on update and stamps updated_at")
def _timestamps(adapter: StorageAdapter) -> None:
    before = now_ms()
    first = adapter.upsert_schedule(make_schedule())
    expect(first.created_at >= before and first.updated_at >= before, "timestamps are now")
    second = adapter.upsert_schedule(make_schedule(value={"olderThanDays": 1}))
    expect_equal(second.created_at, first.created_at, "created_at after an update")
    expect(second.updated_at >= first.updated_at, "updated_at does not go back")


@cases.case("claim_due_schedule takes the earliest due schedule first, ties by key")
def _due_order(adapter: StorageAdapter) -> None:
    for key, due in (("b", 1_000), ("a", 1_000), ("c", 500), ("later", 3_000)):
        adapter.upsert_schedule(make_schedule(key, every=3_600.0, next_run_at=due))
    order = []
    for _ in range(4):
        claimed = adapter.claim_due_schedule(["test"], 2_000)
        order.append(claimed.key if claimed else None)
    expect_equal(order, ["c", "a", "b", None], "claim order")


@cases.case("claim_due_schedule skips missed interval occurrences rather than backfilling")
def _skip_missed(adapter: StorageAdapter) -> None:
    adapter.upsert_schedule(make_schedule(every=1.0, next_run_at=1_000))
    claimed = adapter.claim_due_schedule(["test"], 10_500)
    expect_equal(claimed.next_run_at if claimed else None, 1_000, "claimed occurrence")
    expect_equal(_stored_next(adapter), 11_000, "stored next_run_at")
    expect_equal(adapter.claim_due_schedule(["test"], 10_500), None, "a second claim")


@cases.case("schedule intervals keep sub-second precision")
def _sub_second(adapter: StorageAdapter) -> None:
    stored = adapter.upsert_schedule(make_schedule(every=0.25))
    expect_equal(stored.every, 0.25, "every")
