"""What the engine's public methods do to storage, shared by the Engine and the Dispatcher.

``engine.enqueue(...)`` and ``dispatcher.ask(Enqueue(...))`` must behave the
same, so both call these functions: validation first, then one storage call,
so bad input leaves storage untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from . import codec
from ._actors._runtime import ActiveRuns, Persistence
from .clock import Clock
from .errors import (
    ConfigError,
    IdempotencyConflictError,
    RunCancelledError,
    RunNotFoundError,
    WorkflowNotFoundError,
)
from .records import RunInfo, RunStatus, WorkflowRun, WorkflowSchedule
from .schedule import Duration, Recurrence, default_schedule_key, first_occurrence
from .storage.base import StorageAdapter
from .workflow import Workflow

__all__ = ["Operations"]


def _check_key(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a non-empty str; got {value!r}")
    return value


class Operations:
    """Validated storage operations behind the engine's public methods."""

    def __init__(
        self,
        storage: StorageAdapter,
        clock: Clock,
        workflows: Mapping[str, Workflow[Any, Any]],
    ) -> None:
        self.storage = storage
        self.store = Persistence(storage)
        self.clock = clock
        self.workflows = workflows

    def resolve(self, workflow: Workflow[Any, Any] | str) -> Workflow[Any, Any]:
        """The registered workflow for a ``Workflow`` object or a name."""
        name = workflow.name if isinstance(workflow, Workflow) else workflow
        if not isinstance(name, str):
            raise ConfigError(f"workflow must be a Workflow or its name; got {workflow!r}")
        found = self.workflows.get(name)
        if found is None:
            raise WorkflowNotFoundError(name)
        return found

    def enqueue(
        self, workflow: Workflow[Any, Any] | str, value: Any, idempotency_key: str | None
    ) -> WorkflowRun:
        """Validate and store a new pending run (or return the idempotent match)."""
        definition = self.resolve(workflow)
        key = _check_key(idempotency_key, "idempotency_key")
        plain = definition.input_schema.parse(
            value, what=f'Workflow "{definition.name}" input', path="input"
        )
        now = self.clock.now_ms()
        run = WorkflowRun(
            id=str(uuid.uuid4()),
            workflow=definition.name,
            input=plain,
            idempotency_key=key,
            status=RunStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        created = self.storage.create_run(run)
        if not created.created and not codec.values_equal(created.run.input, plain):
            assert key is not None
            raise IdempotencyConflictError(definition.name, key)
        return created.run

    def cancel(self, run_id: str, active: ActiveRuns | None) -> bool:
        """Cancel a non-terminal run and abort its signals if it runs here."""
        if not self.store.cancel(run_id):
            return False
        running = active.get(run_id) if active is not None else None
        if running is not None:
            running.abort(RunCancelledError(run_id))
        return True

    def send_event(self, run_id: str, name: str, payload: Any) -> bool:
        """Validate and buffer an event for a live run."""
        run = self.storage.get_run(run_id)
        if run is None or run.status.terminal:
            return False
        definition = self.workflows.get(run.workflow)
        if definition is None:
            raise WorkflowNotFoundError(run.workflow)
        unit = definition.wait_unit(name)
        if unit is None:
            raise ConfigError(
                f'Workflow "{run.workflow}" has no wait_for_event step named "{name}"'
            )
        plain = unit.schema.parse(payload, what=f'Event "{name}" payload', path="payload")
        return self.storage.deliver_event(run_id, name, plain)

    def resume(self, run_id: str) -> bool:
        """Re-queue a failed or cancelled run of a registered workflow."""
        run = self.storage.get_run(run_id)
        if run is None:
            return False
        if run.workflow not in self.workflows:
            raise WorkflowNotFoundError(run.workflow)
        return self.storage.requeue_run(run_id)

    def status(self, run_id: str) -> RunInfo | None:
        """The run and its step results, or ``None``."""
        run = self.storage.get_run(run_id)
        if run is None:
            return None
        return RunInfo(run, self.storage.get_step_results(run_id))

    def require_status(self, run_id: str) -> RunInfo:
        """Like :meth:`status`, raising ``RunNotFoundError`` for an unknown id."""
        info = self.status(run_id)
        if info is None:
            raise RunNotFoundError(run_id)
        return info

    def list_runs(
        self,
        status: RunStatus | str | None,
        workflow: str | None,
        limit: int,
        before: int | None,
        before_id: str | None,
    ) -> list[WorkflowRun]:
        """Validated keyset-paginated listing."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ConfigError(f"list_runs limit must be a positive int; got {limit!r}")
        wanted: RunStatus | None = None
        if status is not None:
            try:
                wanted = RunStatus(status)
            except ValueError:
                choices = ", ".join(member.value for member in RunStatus)
                raise ConfigError(f"unknown run status {status!r}; use one of {choices}") from None
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise ConfigError(f"list_runs before must be epoch milliseconds (int); got {before!r}")
        if before_id is not None and before is None:
            raise ConfigError("list_runs before_id needs before (the created_at of that run)")
        return self.storage.list_runs(
            status=wanted, workflow=workflow, limit=limit, before=before, before_id=before_id
        )

    def schedule(
        self,
        workflow: Workflow[Any, Any] | str,
        value: Any,
        every: Duration | None,
        cron: str | None,
        key: str | None,
    ) -> str:
        """Register (or update) a durable schedule; returns its key."""
        recurrence = Recurrence.build(every, cron)
        definition = self.resolve(workflow)
        plain = definition.input_schema.parse(
            value, what=f'Workflow "{definition.name}" input', path="input"
        )
        chosen = _check_key(key, "schedule key") or default_schedule_key(
            definition.name, recurrence, plain
        )
        now = self.clock.now_ms()
        self.storage.upsert_schedule(
            WorkflowSchedule(
                key=chosen,
                workflow=definition.name,
                input=plain,
                every=None if recurrence.every_ms is None else recurrence.every_ms / 1000,
                cron=recurrence.cron,
                next_run_at=first_occurrence(recurrence, now),
                created_at=now,
                updated_at=now,
            )
        )
        return chosen

    def fire_schedules(self, workflow_names: Sequence[str], report: Any) -> int:
        """Enqueue one run per due occurrence; returns how many were created."""
        if not workflow_names:
            return 0
        now = self.clock.now_ms()
        created = 0
        while True:
            try:
                due = self.storage.claim_due_schedule(workflow_names, now)
            except Exception as error:
                report(error)
                return created
            if due is None:
                return created
            run = WorkflowRun(
                id=str(uuid.uuid4()),
                workflow=due.workflow,
                input=due.input,
                idempotency_key=f"reflow.schedule:{due.key}:{due.next_run_at}",
                status=RunStatus.PENDING,
                created_at=now,
                updated_at=now,
            )
            try:
                if self.storage.create_run(run).created:
                    created += 1
            except Exception as error:
                report(error)
