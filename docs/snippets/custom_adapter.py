"""A storage adapter of your own: implement the Protocol, then check it with CASES.

``CountingStorage`` wraps another adapter and counts calls per method, the way a
metrics or tracing adapter would. It implements only the required Protocol
methods, so the engine falls back to them (no optional fast paths).
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from reflow_actors import create_engine, create_workflow
from reflow_actors.conformance import CASES
from reflow_actors.records import (
    CreatedRun,
    RunStatus,
    StepResult,
    TakenEvent,
    WorkflowRun,
    WorkflowSchedule,
)
from reflow_actors.storage import MemoryStorage, StorageAdapter


# --8<-- [start:adapter]
class CountingStorage:
    """Delegates every StorageAdapter method to ``inner`` and counts the calls."""

    def __init__(self, inner: StorageAdapter) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls[name] += 1
        return getattr(self.inner, name)(*args, **kwargs)

    def initialize(self) -> None:
        self._call("initialize")

    def create_run(self, run: WorkflowRun) -> CreatedRun:
        return self._call("create_run", run)

    def claim_next_run(
        self, workflow_names: Sequence[str], stale_before: int | None = None
    ) -> WorkflowRun | None:
        return self._call("claim_next_run", workflow_names, stale_before)

    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        return self._call("heartbeat_run", run_id, lease_id)

    def get_run(self, run_id: str) -> WorkflowRun | None:
        return self._call("get_run", run_id)

    def get_step_results(self, run_id: str) -> list[StepResult]:
        return self._call("get_step_results", run_id)

    def save_step_result(self, result: StepResult, lease_id: str | None = None) -> bool:
        return self._call("save_step_result", result, lease_id)

    def update_run_status(self, run_id: str, status: RunStatus) -> bool:
        return self._call("update_run_status", run_id, status)

    def update_claimed_run_status(self, run_id: str, lease_id: str, status: RunStatus) -> bool:
        return self._call("update_claimed_run_status", run_id, lease_id, status)

    def sleep_run(self, run_id: str, lease_id: str, wake_at: int) -> bool:
        return self._call("sleep_run", run_id, lease_id, wake_at)

    def wait_run(self, run_id: str, lease_id: str, event_name: str, wake_at: int | None) -> bool:
        return self._call("wait_run", run_id, lease_id, event_name, wake_at)

    def deliver_event(self, run_id: str, event_name: str, payload: Any) -> bool:
        return self._call("deliver_event", run_id, event_name, payload)

    def take_event(self, run_id: str, event_name: str) -> TakenEvent | None:
        return self._call("take_event", run_id, event_name)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        before: int | None = None,
        before_id: str | None = None,
    ) -> list[WorkflowRun]:
        return self._call(
            "list_runs",
            status=status,
            workflow=workflow,
            limit=limit,
            before=before,
            before_id=before_id,
        )

    def requeue_run(self, run_id: str) -> bool:
        return self._call("requeue_run", run_id)

    def upsert_schedule(self, schedule: WorkflowSchedule) -> WorkflowSchedule:
        return self._call("upsert_schedule", schedule)

    def claim_due_schedule(
        self, workflow_names: Sequence[str], now: int
    ) -> WorkflowSchedule | None:
        return self._call("claim_due_schedule", workflow_names, now)

    def delete_schedule(self, key: str) -> bool:
        return self._call("delete_schedule", key)

    def list_schedules(self) -> list[WorkflowSchedule]:
        return self._call("list_schedules")

    def close(self) -> None:
        self._call("close")


# --8<-- [end:adapter]


if __name__ == "__main__":
    # --8<-- [start:conformance]
    assert isinstance(CountingStorage(MemoryStorage()), StorageAdapter)

    failures = []
    for case in CASES:
        adapter = CountingStorage(MemoryStorage())  # a fresh, empty adapter per case
        adapter.initialize()
        try:
            case(adapter)
        except AssertionError as error:
            failures.append(f"{case.name}: {error}")
        finally:
            adapter.close()
    print(f"{len(CASES)} cases, {len(failures)} failed")
    # --8<-- [end:conformance]

    # --8<-- [start:engine]
    storage = CountingStorage(MemoryStorage())
    flow = create_workflow("flow").step("a", lambda ctx: 1).step("b", lambda ctx: ctx.prev + 1)
    engine = create_engine(storage=storage, workflows=[flow])
    run = engine.enqueue(flow, None)
    engine.tick()
    engine.stop()
    print(engine.get_run_status(run.id).run.status, "| methods called:", sorted(storage.calls))
    # --8<-- [end:engine]
