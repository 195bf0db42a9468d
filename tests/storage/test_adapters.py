"""Behaviour both built-in adapters share beyond the conformance suite: clocks, checks, closing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

import reflow_actors.storage as storage
from reflow_actors.clock import VirtualClock
from reflow_actors.errors import ConfigError, SerializationError, StorageError
from reflow_actors.records import (
    RunStatus,
    StepResult,
    StepStatus,
    WorkflowRun,
    WorkflowSchedule,
)
from reflow_actors.storage import (
    MemoryStorage,
    SQLiteStorage,
    StorageAdapter,
    SupportsCancel,
    SupportsClaimBatch,
    SupportsConsumeEvent,
    SupportsProgress,
    SupportsWakeups,
)
from tests.storage.conftest import AdapterFactory

START = datetime(2030, 1, 1, tzinfo=timezone.utc)
START_MS = int(START.timestamp() * 1000)


def _run(run_id: str = "r", **changes: Any) -> WorkflowRun:
    return replace(WorkflowRun(run_id, "wf", {}, None, RunStatus.PENDING, 1, 1), **changes)


def _step(name: str = "a", **changes: Any) -> StepResult:
    return replace(StepResult(name, StepStatus.COMPLETED, 1, run_id="r"), **changes)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_timestamps_come_from_the_adapter_clock(kind: str, tmp_path: Any) -> None:
    clock = VirtualClock(START)
    storage: StorageAdapter = (
        MemoryStorage(clock=clock)
        if kind == "memory"
        else SQLiteStorage(tmp_path / "c.db", clock=clock)
    )
    try:
        storage.initialize()
        storage.create_run(_run())
        claimed = storage.claim_next_run(["wf"])
        assert claimed is not None
        assert claimed.updated_at == START_MS
        clock.advance(5)
        assert claimed.lease_id is not None
        storage.save_step_result(_step(), claimed.lease_id)
        (row,) = storage.get_step_results("r")
        assert (row.created_at, row.updated_at) == (START_MS + 5_000, START_MS + 5_000)
        storage.sleep_run("r", claimed.lease_id, START_MS + 60_000)
        assert storage.claim_next_run(["wf"]) is None
        clock.advance(60)
        woken = storage.claim_next_run(["wf"])
        assert woken is not None
        assert woken.updated_at == START_MS + 65_000
        schedule = storage.upsert_schedule(WorkflowSchedule("k", "wf", {}, 1.0, None, 0))
        assert schedule.created_at == START_MS + 65_000
    finally:
        storage.close()


def test_step_id_owned_by_another_row_is_refused(new_adapter: AdapterFactory) -> None:
    adapter = new_adapter()
    adapter.save_step_result(_step("a", id="shared"))
    with pytest.raises(StorageError) as raised:
        adapter.save_step_result(_step("b", id="shared"))
    assert raised.value.operation == "save_step_result"
    assert [row.name for row in adapter.get_step_results("r")] == ["a"]
    assert adapter.save_step_result(_step("a", id="shared", output=2))  # its own row: fine


def test_save_progress_refuses_rows_of_another_run(new_adapter: AdapterFactory) -> None:
    adapter = new_adapter()
    adapter.create_run(_run())
    claimed = adapter.claim_next_run(["wf"])
    assert claimed is not None
    assert claimed.lease_id is not None
    with pytest.raises(ConfigError, match="belongs to run 'other'"):
        adapter.save_progress("r", claimed.lease_id, [_step(run_id="other")])  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "10"])
def test_list_runs_limit_must_be_a_positive_int(new_adapter: AdapterFactory, limit: Any) -> None:
    with pytest.raises(ConfigError, match="limit"):
        new_adapter().list_runs(limit=limit)


def test_unknown_run_status_is_a_config_error(new_adapter: AdapterFactory) -> None:
    adapter = new_adapter()
    adapter.create_run(_run())
    with pytest.raises(ConfigError, match="'paused'"):
        adapter.update_run_status("r", "paused")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        adapter.list_runs(status="paused")  # type: ignore[arg-type]
    assert adapter.update_run_status("r", "completed")  # type: ignore[arg-type]  # plain strings work


@pytest.mark.parametrize(
    ("every", "cron"),
    [
        (None, None),
        (60.0, "* * * * *"),
        (0, None),
        (0.0001, None),
        (float("nan"), None),
        (True, None),
        (None, "  "),
    ],
)
def test_schedule_needs_exactly_one_valid_recurrence(
    new_adapter: AdapterFactory, every: Any, cron: Any
) -> None:
    adapter = new_adapter()
    with pytest.raises(ConfigError):
        adapter.upsert_schedule(WorkflowSchedule("k", "wf", {}, every, cron, 1_000))
    assert adapter.list_schedules() == []


def test_serialization_errors_name_the_path(new_adapter: AdapterFactory) -> None:
    adapter = new_adapter()
    with pytest.raises(SerializationError) as run_error:
        adapter.create_run(_run(input={"tags": {1}}))
    assert run_error.value.path == "input.tags"
    adapter.create_run(_run())
    with pytest.raises(SerializationError) as step_error:
        adapter.save_step_result(_step(output={"items": [1, 2, 3, object()]}))
    assert step_error.value.path == "output.items[3]"
    with pytest.raises(SerializationError) as event_error:
        adapter.deliver_event("r", "e", b"raw")
    assert event_error.value.path == "payload"
    with pytest.raises(SerializationError) as schedule_error:
        adapter.upsert_schedule(WorkflowSchedule("k", "wf", {"when": {1, 2}}, 1.0, None, 0))
    assert schedule_error.value.path == "input.when"


def test_a_prepare_returning_unpersistable_rows_claims_nothing(new_adapter: AdapterFactory) -> None:
    adapter = new_adapter()
    adapter.create_run(_run())

    def prepare(run: WorkflowRun, rows: list[StepResult]) -> list[StepResult]:
        return [_step(output={1, 2}, run_id=run.id)]

    with pytest.raises(SerializationError):
        adapter.claim_runs(["wf"], 1, None, prepare)  # type: ignore[attr-defined]
    stored = adapter.get_run("r")
    assert stored is not None
    assert stored.status is RunStatus.PENDING
    assert adapter.get_step_results("r") == []
    assert adapter.claim_runs(["wf"], 0) == []  # type: ignore[attr-defined]


CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("initialize", ()),
    ("create_run", (_run(),)),
    ("claim_next_run", (["wf"],)),
    ("claim_next_run", ([],)),
    ("claim_runs", (["wf"], 2)),
    ("heartbeat_run", ("r", "l")),
    ("get_run", ("r",)),
    ("get_step_results", ("r",)),
    ("save_step_result", (_step(),)),
    ("save_progress", ("r", "l", [])),
    ("update_run_status", ("r", RunStatus.FAILED)),
    ("update_claimed_run_status", ("r", "l", RunStatus.FAILED)),
    ("cancel_run", ("r",)),
    ("sleep_run", ("r", "l", 1)),
    ("wait_run", ("r", "l", "e", None)),
    ("deliver_event", ("r", "e", 1)),
    ("take_event", ("r", "e")),
    ("consume_event", ("r", "l", "e", list)),
    ("list_runs", ()),
    ("requeue_run", ("r",)),
    ("upsert_schedule", (WorkflowSchedule("k", "wf", {}, 1.0, None, 0),)),
    ("claim_due_schedule", (["wf"], 1)),
    ("delete_schedule", ("k",)),
    ("list_schedules", ()),
]


@pytest.mark.parametrize(
    ("method", "args"), CALLS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(CALLS)]
)
def test_every_method_raises_storage_error_once_closed(
    new_adapter: AdapterFactory, method: str, args: tuple[Any, ...]
) -> None:
    adapter = new_adapter()
    adapter.close()
    with pytest.raises(StorageError, match="storage is closed") as raised:
        getattr(adapter, method)(*args)
    assert raised.value.operation == method
    adapter.close()  # still idempotent


def test_memory_storage_repr_and_reentrant_prepare() -> None:
    storage = MemoryStorage()
    storage.create_run(_run())
    seen: list[int] = []

    def prepare(run: WorkflowRun, rows: list[StepResult]) -> list[StepResult]:
        seen.append(len(storage.list_runs()))  # reading back inside the claim is allowed
        return []

    assert len(storage.claim_runs(["wf"], 1, None, prepare)) == 1
    assert seen == [1]
    assert "1 runs" in repr(storage)
    storage.close()
    assert "closed" in repr(storage)


def test_both_adapters_satisfy_the_protocol_and_its_fast_paths(new_adapter: AdapterFactory) -> None:
    adapter = new_adapter()
    for protocol in (
        StorageAdapter,
        SupportsClaimBatch,
        SupportsProgress,
        SupportsCancel,
        SupportsConsumeEvent,
    ):
        assert isinstance(adapter, protocol)
    assert not isinstance(adapter, SupportsWakeups)  # no push channel between processes


def test_a_run_id_taken_without_a_key_is_a_storage_error(new_adapter: AdapterFactory) -> None:
    adapter = new_adapter()
    adapter.create_run(_run(input={"first": True}))
    with pytest.raises(StorageError) as raised:
        adapter.create_run(_run(input={"second": True}))
    assert raised.value.operation == "create_run"
    stored = adapter.get_run("r")
    assert stored is not None
    assert stored.input == {"first": True}


def test_storage_package_exports_a_sorted_public_surface() -> None:
    assert storage.__all__ == sorted(storage.__all__)
    assert {"SQLiteStorage", "MemoryStorage", "StorageAdapter", "ClaimedRun"} <= set(
        storage.__all__
    )
    for name in storage.__all__:
        exported = getattr(storage, name)
        assert name == "Prepare" or exported.__doc__, name  # Prepare is a type alias
