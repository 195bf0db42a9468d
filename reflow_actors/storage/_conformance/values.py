"""Value fidelity: what goes in comes back equal, as a fresh copy; the unpersistable never lands."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any

from reflow_actors.errors import SerializationError
from reflow_actors.records import RunStatus, TakenEvent
from reflow_actors.storage._conformance._support import (
    Registry,
    claim,
    expect,
    expect_equal,
    expect_raises,
    make_run,
    make_schedule,
    make_step,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = ["cases"]

cases = Registry()

_NOON = datetime(2025, 6, 15, 12, 0, tzinfo=timezone.utc)
_PLUS_TWO = datetime(2025, 6, 15, 14, 0, 0, 123_000, tzinfo=timezone(timedelta(hours=2)))


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


@cases.case("datetimes round-trip as equal, timezone-aware datetimes everywhere")
def _datetimes(adapter: StorageAdapter) -> None:
    naive = datetime(2025, 6, 15, 12, 0)  # read as UTC
    adapter.create_run(make_run(value={"at": _NOON, "naive": naive, "list": [_PLUS_TWO]}))
    stored = adapter.get_run("run_1")
    assert stored is not None
    expect_equal(stored.input["at"], _NOON, "datetime in the input")
    expect(_is_aware(stored.input["naive"]), "a naive datetime comes back timezone-aware")
    expect_equal(stored.input["naive"], _NOON, "a naive datetime is taken as UTC")
    expect_equal(stored.input["list"], [_PLUS_TWO], "a datetime with an offset, in a list")
    adapter.save_step_result(make_step(output=_NOON))
    expect_equal(adapter.get_step_results("run_1")[0].output, _NOON, "datetime step output")
    adapter.deliver_event("run_1", "e", {"when": _PLUS_TWO})
    expect_equal(adapter.take_event("run_1", "e"), TakenEvent({"when": _PLUS_TWO}), "payload")
    adapter.upsert_schedule(make_schedule(value={"since": _NOON}))
    expect_equal(adapter.list_schedules()[0].input, {"since": _NOON}, "schedule input")


@cases.case("nested data round-trips")
def _nested(adapter: StorageAdapter) -> None:
    value = {
        "user": {"name": "ada", "roles": ["admin", "dev"]},
        "metadata": {"nested": {"deeply": {"value": 42}}},
        "tags": [1, "two", None, True, 2.5, -7],
        "unicode": "héllo ✓ 日本",
        "big": 2**62,
    }
    adapter.create_run(make_run(value=value))
    stored = adapter.get_run("run_1")
    expect_equal(stored.input if stored else None, value, "nested input")
    claimed = adapter.claim_next_run(["test"])
    expect_equal(claimed.input if claimed else None, value, "nested input of the claimed run")


@cases.case("falsy outputs are never collapsed: None, False, 0, '', [] and {} round-trip")
def _falsy(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    outputs: list[Any] = [None, False, 0, 0.0, "", [], {}]
    for index, output in enumerate(outputs):
        adapter.save_step_result(make_step(f"s{index}", output=output, created_at=index + 1))
    rows = adapter.get_step_results("run_1")
    got = [(type(row.output), row.output) for row in rows]
    expect_equal(got, [(type(output), output) for output in outputs], "outputs with their types")


@cases.case("tuples are stored and read back as lists")
def _tuples(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run(value={"pair": (1, 2), "nested": [(3,)]}))
    stored = adapter.get_run("run_1")
    expect_equal(stored.input if stored else None, {"pair": [1, 2], "nested": [[3]]}, "input")


@cases.case("mutating a returned value never changes what is stored")
def _returned_copies(adapter: StorageAdapter) -> None:
    original = {"items": [1, 2], "inner": {"k": "v"}}
    adapter.create_run(make_run(value={"items": [1, 2], "inner": {"k": "v"}}))
    adapter.save_step_result(make_step(output={"items": [1, 2], "inner": {"k": "v"}}))
    adapter.upsert_schedule(make_schedule(value={"items": [1, 2], "inner": {"k": "v"}}))
    for value in (
        _input(adapter),
        adapter.list_runs()[0].input,
        adapter.get_step_results("run_1")[0].output,
        adapter.list_schedules()[0].input,
    ):
        value["items"].append(3)
        value["inner"]["k"] = "changed"
    claimed = adapter.claim_next_run(["test"])
    assert claimed is not None
    claimed.input["items"].clear()
    expect_equal(_input(adapter), original, "stored input")
    expect_equal(adapter.get_step_results("run_1")[0].output, original, "stored output")
    expect_equal(adapter.list_schedules()[0].input, original, "stored schedule input")


def _input(adapter: StorageAdapter) -> Any:
    stored = adapter.get_run("run_1")
    assert stored is not None
    return stored.input


@cases.case("mutating a value after saving it never changes what is stored")
def _saved_copies(adapter: StorageAdapter) -> None:
    value: dict[str, Any] = {"items": [1]}
    adapter.create_run(make_run(value=value))
    output: dict[str, Any] = {"items": [1]}
    adapter.save_step_result(make_step(output=output))
    payload: dict[str, Any] = {"items": [1]}
    adapter.deliver_event("run_1", "e", payload)
    for mutable in (value, output, payload):
        mutable["items"].append(2)
    expect_equal(_input(adapter), {"items": [1]}, "stored input")
    expect_equal(adapter.get_step_results("run_1")[0].output, {"items": [1]}, "stored output")
    expect_equal(adapter.take_event("run_1", "e"), TakenEvent({"items": [1]}), "stored payload")


@cases.case("an unpersistable run input raises SerializationError and stores nothing")
def _bad_input(adapter: StorageAdapter) -> None:
    bad = make_run(value={"tags": {"a", "b"}})
    expect_raises(SerializationError, lambda: adapter.create_run(bad), "create_run(set input)")
    expect_equal(adapter.get_run("run_1"), None, "run stored despite the error")
    expect_equal(adapter.list_runs(), [], "runs listed")


@cases.case("an unpersistable step output raises SerializationError and writes nothing")
def _bad_output(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.save_step_result(make_step("a", output=1), lease)
    for name in ("a", "b"):
        bad = make_step(name, output={"blob": b"bytes"})
        expect_raises(
            SerializationError, functools.partial(adapter.save_step_result, bad, lease), name
        )
    rows = adapter.get_step_results("run_1")
    expect_equal([(row.name, row.output) for row in rows], [("a", 1)], "rows after the errors")


@cases.case("an unpersistable event payload raises SerializationError and buffers nothing")
def _bad_payload(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.wait_run("run_1", lease, "e", None)
    expect_raises(
        SerializationError,
        lambda: adapter.deliver_event("run_1", "e", float("nan")),
        "deliver_event(nan)",
    )
    expect_equal(adapter.take_event("run_1", "e"), None, "buffered event")
    stored = adapter.get_run("run_1")
    expect_equal(stored.status if stored else None, RunStatus.WAITING, "status of the waiting run")


@cases.case("an unpersistable schedule input raises SerializationError and stores nothing")
def _bad_schedule(adapter: StorageAdapter) -> None:
    bad = make_schedule(value={"when": object()})
    expect_raises(SerializationError, lambda: adapter.upsert_schedule(bad), "upsert_schedule")
    expect_equal(adapter.list_schedules(), [], "schedules stored")
