"""The conformance suite is only worth something if it fails broken adapters: mutants of
MemoryStorage, each with one plausible bug, must each fail at least one case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from reflow_actors.conformance import CASES
from reflow_actors.records import CreatedRun, RunStatus, StepResult, WorkflowRun, WorkflowSchedule
from reflow_actors.storage import MemoryStorage


class IgnoresLeaseOnHeartbeat(MemoryStorage):
    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        return self.get_run(run_id) is not None


class SavesWithoutLeaseCheck(MemoryStorage):
    def save_step_result(self, result: StepResult, lease_id: str | None = None) -> bool:
        return super().save_step_result(result)


class PaginatesByTimeOnly(MemoryStorage):
    def list_runs(self, **options: Any) -> list[WorkflowRun]:
        options.pop("before_id", None)
        return super().list_runs(**options)


class ForgetsIdempotency(MemoryStorage):
    def create_run(self, run: WorkflowRun) -> CreatedRun:
        return super().create_run(replace(run, idempotency_key=None))


class WaitsDespiteBufferedEvent(MemoryStorage):
    def wait_run(self, run_id: str, lease_id: str, event_name: str, wake_at: int | None) -> bool:
        buffered = self.take_event(run_id, event_name)
        try:
            return super().wait_run(run_id, lease_id, event_name, wake_at)
        finally:
            if buffered is not None:
                with self._lock:
                    self._events.append(run_id, event_name, '"restored"', 0)


class AlwaysResetsCadence(MemoryStorage):
    def upsert_schedule(self, schedule: WorkflowSchedule) -> WorkflowSchedule:
        self.delete_schedule(schedule.key)
        return super().upsert_schedule(schedule)


class SharesStoredValues(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self._shared: dict[str, Any] = {}

    def get_run(self, run_id: str) -> WorkflowRun | None:
        run = super().get_run(run_id)
        if run is None:
            return None
        shared = self._shared.setdefault(run_id, run.input)
        return replace(run, input=shared)


class DeliveryDoesNotWake(MemoryStorage):
    def deliver_event(self, run_id: str, event_name: str, payload: Any) -> bool:
        run = self.get_run(run_id)
        delivered = super().deliver_event(run_id, event_name, payload)
        if run is not None and run.status is RunStatus.WAITING:
            with self._lock:
                self._runs[run_id].status = RunStatus.WAITING
        return delivered


class ClaimsStaleFirst(MemoryStorage):
    def claim_next_run(
        self, workflow_names: Sequence[str], stale_before: int | None = None
    ) -> WorkflowRun | None:
        if stale_before is not None:
            with self._lock:
                for row in self._runs.values():
                    if row.status is RunStatus.RUNNING and row.updated_at <= stale_before:
                        row.status = RunStatus.PENDING
                        row.created_at = -1
        return super().claim_next_run(workflow_names, stale_before)


class ClaimRunsIgnoresLimit(MemoryStorage):
    def claim_runs(self, workflow_names: Sequence[str], limit: int, *args: Any) -> Any:
        return super().claim_runs(workflow_names, limit + 1, *args)


MUTANTS = [
    IgnoresLeaseOnHeartbeat,
    SavesWithoutLeaseCheck,
    PaginatesByTimeOnly,
    ForgetsIdempotency,
    WaitsDespiteBufferedEvent,
    AlwaysResetsCadence,
    SharesStoredValues,
    DeliveryDoesNotWake,
    ClaimsStaleFirst,
    ClaimRunsIgnoresLimit,
]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda cls: cls.__name__)
def test_each_broken_adapter_fails_some_case(mutant: type[MemoryStorage]) -> None:
    failed = []
    for case in CASES:
        adapter = mutant()
        adapter.initialize()
        try:
            case(adapter)
        except AssertionError:
            failed.append(case.name)
        finally:
            adapter.close()
    assert failed, f"no conformance case notices {mutant.__name__}"


def test_the_reference_adapter_passes_every_case() -> None:
    for case in CASES:
        adapter = MemoryStorage()
        adapter.initialize()
        try:
            case(adapter)
        finally:
            adapter.close()
