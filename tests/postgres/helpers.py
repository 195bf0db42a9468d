"""Builders the PostgreSQL adapter tests share."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from reflow_actors.records import RunStatus, WorkflowRun
from reflow_actors.storage.postgres import PostgresStorage

Make = Callable[..., PostgresStorage]


def make_run(run_id: str = "run_1", **changes: Any) -> WorkflowRun:
    values: dict[str, Any] = {
        "id": run_id,
        "workflow": "test",
        "input": {},
        "idempotency_key": None,
        "status": RunStatus.PENDING,
        "created_at": 1_000,
        "updated_at": 1_000,
    }
    values.update(changes)
    return WorkflowRun(**values)


def claim(storage: PostgresStorage, run_id: str = "run_1") -> str:
    storage.create_run(make_run(run_id))
    claimed = storage.claim_next_run(["test"])
    assert claimed is not None
    assert claimed.id == run_id
    assert claimed.lease_id
    return claimed.lease_id


def parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(0..count-1)`` on threads released together; return results, raise errors."""
    barrier = threading.Barrier(count, timeout=30)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=body, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results
