"""A delegating storage adapter that can kill its own process mid-transaction, or log writes.

The engine accepts any object with the ``StorageAdapter`` methods, so workers
wrap the real ``SQLiteStorage`` in :class:`ChaosStorage`:

* ``self_kill=p``: each ``save_progress`` and ``claim_runs`` call, with
  probability ``p``, starts the real call on another thread, waits a random
  0-4 ms and sends ``SIGKILL`` to its own process. With ``durability="full"``
  a write transaction takes 1-3 ms here, so the kill lands before, inside or
  just after the commit: exactly the moments a crash is hardest on.
* ``record=<ledger path>``: every ``heartbeat_run`` and ``save_progress``
  appends a ``write`` entry saying whether storage accepted it (with
  ``refusals_only``, only the refused ones), so a test can prove a fenced-out
  worker's late writes were refused, or that a process lost a lease.

Every other method of the storage contract, and the optional fast paths
``SQLiteStorage`` has, is forwarded to the wrapped adapter unchanged (defined
on the class, so ``isinstance(..., StorageAdapter)`` holds on every Python).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

from reflow_actors.records import RunStatus, StepResult
from tests.chaos import ledger

KILL_DELAY = 0.004  # at most this long between starting the write and the SIGKILL


class ChaosStorage:
    """Wraps a storage adapter; see the module docstring."""

    def __init__(
        self,
        inner: Any,
        *,
        self_kill: float = 0.0,
        record: str | None = None,
        refusals_only: bool = False,
    ) -> None:
        self.inner = inner
        self.self_kill = self_kill
        self.record = record
        self.refusals_only = refusals_only
        self._rng = random.Random()

    def _maybe_die_during(self, method: str, *args: Any) -> None:
        if self.self_kill <= 0 or self._rng.random() >= self.self_kill:
            return
        writer = threading.Thread(
            target=getattr(self.inner, method), args=args, name="chaos-doomed-write", daemon=True
        )
        writer.start()
        time.sleep(self._rng.uniform(0, KILL_DELAY))
        os.kill(os.getpid(), signal.SIGKILL)

    def claim_runs(
        self,
        workflow_names: Sequence[str],
        limit: int,
        stale_before: Any = None,
        prepare: Any = None,
    ) -> Any:
        """Claim (maybe dying inside the claim's transaction)."""
        self._maybe_die_during("claim_runs", workflow_names, limit, stale_before, prepare)
        return self.inner.claim_runs(workflow_names, limit, stale_before, prepare)

    def save_progress(
        self,
        run_id: str,
        lease_id: str,
        steps: Sequence[StepResult],
        status: RunStatus | None = None,
    ) -> bool:
        """Save (maybe dying inside the transaction), and log the answer if recording."""
        self._maybe_die_during("save_progress", run_id, lease_id, steps, status)
        saved = bool(self.inner.save_progress(run_id, lease_id, steps, status))
        if self.record is not None and not (saved and self.refusals_only):
            names = ",".join(step.name for step in steps)
            ledger.append(self.record, run_id, names, 0, "write", op="save_progress", ok=saved)
        return saved

    def heartbeat_run(self, run_id: str, lease_id: str) -> bool:
        """Renew a lease, logging the answer if recording."""
        held = bool(self.inner.heartbeat_run(run_id, lease_id))
        if self.record is not None and not (held and self.refusals_only):
            ledger.append(self.record, run_id, "*", 0, "write", op="heartbeat_run", ok=held)
        return held


_FORWARDED = (
    "initialize",
    "close",
    "create_run",
    "get_run",
    "claim_next_run",
    "update_run_status",
    "update_claimed_run_status",
    "cancel_run",
    "list_runs",
    "requeue_run",
    "get_step_results",
    "save_step_result",
    "sleep_run",
    "wait_run",
    "deliver_event",
    "take_event",
    "consume_event",
    "upsert_schedule",
    "claim_due_schedule",
    "delete_schedule",
    "list_schedules",
)


def _forward(name: str) -> Any:
    def forward(self: ChaosStorage, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.inner, name)(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    return forward


for _name in _FORWARDED:
    setattr(ChaosStorage, _name, _forward(_name))
