"""Step rows: one per (run, name), identity kept on update (CF-19..22 and more)."""

from __future__ import annotations

from dataclasses import replace

from reflow_actors.errors import ConfigError
from reflow_actors.records import StepStatus
from reflow_actors.storage._conformance._support import (
    Registry,
    claim,
    expect,
    expect_equal,
    expect_false,
    expect_raises,
    expect_true,
    make_run,
    make_step,
    now_ms,
    step_names,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = ["cases"]

cases = Registry()


@cases.case("save_step_result persists a step and get_step_results reads it back")
def _save(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    expect_true(adapter.save_step_result(make_step(step_id="step_1")), "save_step_result")
    rows = adapter.get_step_results("run_1")
    expect_equal(len(rows), 1, "row count")
    expect_equal(rows[0].output, {"ok": True}, "output")


@cases.case("save_step_result upserts by row id rather than appending")
def _upsert(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.save_step_result(make_step(step_id="step_1", status="failed", output=None))
    adapter.save_step_result(make_step(step_id="step_1"))
    rows = adapter.get_step_results("run_1")
    expect_equal(len(rows), 1, "row count")
    expect_equal(rows[0].status, StepStatus.COMPLETED, "status after the update")


@cases.case("save_step_result with a stale lease is refused")
def _stale_lease(adapter: StorageAdapter) -> None:
    claim(adapter)
    refused = adapter.save_step_result(make_step(step_id="step_1"), "not-the-lease")
    expect_false(refused, "save with a wrong lease")
    expect_equal(adapter.get_step_results("run_1"), [], "rows after a refused save")


@cases.case("get_step_results returns an empty list for a run with no steps")
def _no_steps(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    expect_equal(adapter.get_step_results("run_1"), [], "rows of a run without steps")
    expect_equal(adapter.get_step_results("missing"), [], "rows of an unknown run")


@cases.case("save_step_result with the held lease writes the row")
def _held_lease(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    expect_true(adapter.save_step_result(make_step("s1"), lease), "save, held lease")
    expect_false(adapter.save_step_result(make_step("s2"), "nope"), "save, wrong lease")
    expect_equal(step_names(adapter), ["s1"], "rows")


@cases.case("one row per step name: saving a name again updates its row")
def _one_row_per_name(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.save_step_result(make_step("a", status="failed", output=None, error="Boom"))
    first = adapter.get_step_results("run_1")[0]
    adapter.save_step_result(make_step("a", step_id="another-id", attempts=2))
    rows = adapter.get_step_results("run_1")
    expect_equal(len(rows), 1, "rows for one step name")
    expect_equal(rows[0].id, first.id, "row id after an update with another id")
    expect_equal((rows[0].status, rows[0].attempts), (StepStatus.COMPLETED, 2), "updated row")


@cases.case("an update keeps the row's id and created_at and refreshes updated_at")
def _identity(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.save_step_result(make_step("a", status="running", output=None, attempts=1))
    first = adapter.get_step_results("run_1")[0]
    adapter.save_step_result(make_step("a", created_at=5, attempts=2))
    row = adapter.get_step_results("run_1")[0]
    expect_equal((row.id, row.created_at), (first.id, first.created_at), "id, created_at")
    expect(row.updated_at >= first.updated_at, "updated_at does not go back")
    expect_equal(row.run_id, "run_1", "run_id of a returned row")


@cases.case("storage assigns an id to a new row saved without one")
def _assigns_id(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.save_step_result(make_step("a"))
    adapter.save_step_result(make_step("b"))
    rows = adapter.get_step_results("run_1")
    expect(all(isinstance(row.id, str) and row.id for row in rows), "every row has an id")
    expect_equal(len({row.id for row in rows}), 2, "distinct ids")


@cases.case("a new row keeps the created_at it is given; zero means now")
def _created_at(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    before = now_ms()
    adapter.save_step_result(make_step("given", created_at=1_234))
    adapter.save_step_result(make_step("stamped"))
    rows = {row.name: row for row in adapter.get_step_results("run_1")}
    expect_equal(rows["given"].created_at, 1_234, "given created_at")
    expect(rows["stamped"].created_at >= before, "created_at 0 is stamped with now")
    expect(rows["given"].updated_at >= before, "updated_at is always now")


@cases.case("get_step_results orders rows by created_at")
def _order(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    for name, created in (("c", 3_000), ("a", 1_000), ("b", 2_000)):
        adapter.save_step_result(make_step(name, created_at=created))
    expect_equal(step_names(adapter), ["a", "b", "c"], "row order")


@cases.case("rows with one created_at keep their first-write order, also after updates")
def _tie_order(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    for name in ("a", "b", "c"):
        adapter.save_step_result(make_step(name, created_at=7))
    adapter.save_step_result(make_step("a", created_at=7, attempts=5))
    expect_equal(step_names(adapter), ["a", "b", "c"], "row order")


@cases.case("step rows are kept apart per run")
def _per_run(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run("r1"))
    adapter.create_run(make_run("r2"))
    adapter.save_step_result(make_step("a", run_id="r1", output=1))
    adapter.save_step_result(make_step("a", run_id="r2", output=2))
    expect_equal([row.output for row in adapter.get_step_results("r1")], [1], "rows of r1")
    expect_equal([row.output for row in adapter.get_step_results("r2")], [2], "rows of r2")


@cases.case("save_step_result refuses a row without run_id with ConfigError")
def _needs_run_id(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    row = make_step(run_id="")
    expect_raises(ConfigError, lambda: adapter.save_step_result(row), "save without run_id")
    expect_equal(adapter.get_step_results(""), [], "rows stored under an empty run id")


@cases.case("a row read back can be saved back as it is")
def _save_back(adapter: StorageAdapter) -> None:
    lease = claim(adapter)
    adapter.save_step_result(make_step("a", output={"n": [1, 2]}), lease)
    row = adapter.get_step_results("run_1")[0]
    expect_true(adapter.save_step_result(row, lease), "saving a returned row")
    again = adapter.get_step_results("run_1")
    expect_equal(len(again), 1, "rows")
    expect_equal(replace(again[0], updated_at=row.updated_at), row, "row after saving it back")


@cases.case("step rows keep status, error and attempts")
def _fields(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    for index, status in enumerate(StepStatus):
        error = "ValueError: boom" if status is StepStatus.FAILED else None
        adapter.save_step_result(
            make_step(f"s{index}", status=status.value, error=error, attempts=index)
        )
    rows = adapter.get_step_results("run_1")
    expect_equal([row.status for row in rows], list(StepStatus), "statuses")
    expect_equal([row.attempts for row in rows], list(range(len(StepStatus))), "attempts")
    errors = [row.error for row in rows if row.error is not None]
    expect_equal(errors, ["ValueError: boom"], "errors")
