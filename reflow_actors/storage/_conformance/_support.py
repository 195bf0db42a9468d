"""Builders and checks the conformance cases share.

Checks raise ``AssertionError`` explicitly rather than through ``assert``, so the
suite still checks something under ``python -O``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from reflow_actors.records import (
    RunStatus,
    StepResult,
    StepStatus,
    WorkflowRun,
    WorkflowSchedule,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = [
    "DAY",
    "CaseFunc",
    "Entry",
    "Registry",
    "claim",
    "expect",
    "expect_equal",
    "expect_false",
    "expect_raises",
    "expect_true",
    "ids",
    "make_run",
    "make_schedule",
    "make_step",
    "now_ms",
    "step_names",
]

DAY = 86_400_000
"""One day in milliseconds: "far in the future" for wake times."""

CaseFunc = Callable[[StorageAdapter], None]


@dataclass(frozen=True)
class Entry:
    """A case as registered: its name, body and the optional method it needs."""

    name: str
    run: CaseFunc
    needs: str | None


class Registry:
    """Collects a module's cases in definition order."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def case(self, name: str, *, needs: str | None = None) -> Callable[[CaseFunc], CaseFunc]:
        """Register the decorated function as the case ``name``."""

        def register(func: CaseFunc) -> CaseFunc:
            self.entries.append(Entry(name, func, needs))
            return func

        return register


def now_ms() -> int:
    """Real time in epoch ms; cases assume the adapter runs on the system clock."""
    return int(time.time() * 1000)


def make_run(
    run_id: str = "run_1",
    *,
    workflow: str = "test",
    value: Any = None,
    key: str | None = None,
    status: str = "pending",
    created_at: int | None = None,
    updated_at: int | None = None,
) -> WorkflowRun:
    """Build a run record (input ``{}`` unless ``value`` is given, created now)."""
    created = now_ms() if created_at is None else created_at
    return WorkflowRun(
        run_id,
        workflow,
        {} if value is None else value,
        key,
        RunStatus(status),
        created,
        created if updated_at is None else updated_at,
    )


_OK: Any = object()


def make_step(
    name: str = "a",
    *,
    run_id: str = "run_1",
    status: str = "completed",
    output: Any = _OK,
    error: str | None = None,
    attempts: int = 1,
    step_id: str = "",
    created_at: int = 0,
) -> StepResult:
    """Build a step row for ``run_1`` (output ``{"ok": True}`` unless given)."""
    return StepResult(
        name,
        StepStatus(status),
        {"ok": True} if output is _OK else output,
        error,
        attempts,
        created_at,
        run_id=run_id,
        id=step_id,
    )


def make_schedule(
    key: str = "nightly",
    *,
    workflow: str = "test",
    value: Any = None,
    every: float | None = 60.0,
    cron: str | None = None,
    next_run_at: int | None = None,
) -> WorkflowSchedule:
    """Build a schedule (every 60 s, first due in 60 s, input ``{"olderThanDays": 30}``)."""
    return WorkflowSchedule(
        key,
        workflow,
        {"olderThanDays": 30} if value is None else value,
        None if cron is not None else every,
        cron,
        now_ms() + 60_000 if next_run_at is None else next_run_at,
    )


def expect(condition: object, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` is true."""
    if not condition:
        raise AssertionError(message)


def expect_equal(actual: Any, expected: Any, what: str) -> None:
    """Raise ``AssertionError`` naming ``what`` unless ``actual == expected``."""
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def expect_true(value: object, what: str) -> None:
    """Raise ``AssertionError`` naming ``what`` unless ``value is True``."""
    if value is not True:
        raise AssertionError(f"{what}: expected True, got {value!r}")


def expect_false(value: object, what: str) -> None:
    """Raise ``AssertionError`` naming ``what`` unless ``value is False``."""
    if value is not False:
        raise AssertionError(f"{what}: expected False, got {value!r}")


def expect_raises(error: type[BaseException], call: Callable[[], object], what: str) -> Any:
    """Call ``call`` and return the ``error`` it raises; fail if it raises nothing."""
    try:
        result = call()
    except error as raised:
        return raised
    raise AssertionError(f"{what}: expected {error.__name__}, got a return value {result!r}")


def claim(adapter: StorageAdapter, run: WorkflowRun | None = None) -> str:
    """Create ``run`` (default ``run_1``), claim it and return its lease."""
    run = make_run() if run is None else run
    adapter.create_run(run)
    claimed = adapter.claim_next_run([run.workflow])
    expect(claimed is not None, f"claim_next_run should claim {run.id!r}")
    assert claimed is not None  # for the type checker
    expect_equal(claimed.id, run.id, "claimed run id")
    expect(isinstance(claimed.lease_id, str) and claimed.lease_id, "a claim issues a lease id")
    return str(claimed.lease_id)


def ids(runs: Iterable[WorkflowRun]) -> list[str]:
    """The ids of ``runs``, in order."""
    return [run.id for run in runs]


def step_names(adapter: StorageAdapter, run_id: str = "run_1") -> list[str]:
    """The names of the run's step rows, in the order storage returns them."""
    return [row.name for row in adapter.get_step_results(run_id)]
