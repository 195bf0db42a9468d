"""Heartbeat: renews every lease this engine holds, each ``heartbeat_interval``.

A renewal storage refuses means another engine may own the run now (or it was
cancelled): the run is aborted with ``LeaseExpiredError``, which interrupts its
supervisor, and nothing more is written for it. A renewal that fails with a
storage error is reported to ``on_error`` and retried at the next beat; only a
refusal takes the run away.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import LeaseExpiredError
from ._base import BaseActor, tell_quietly

if TYPE_CHECKING:
    from ._runtime import Runtime
    from ._timers import TimerHandle

__all__ = ["Beat", "Heartbeat"]


class Beat:
    """Timer → Heartbeat: renew the leases now."""

    __slots__ = ()


class Heartbeat(BaseActor):
    """Renews the leases of the engine's active runs."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__("Heartbeat", runtime.threads)
        self._runtime = runtime
        self._timer: TimerHandle | None = None

    def on_start(self) -> None:
        """Schedule the first beat one interval from now."""
        self._schedule()

    def _schedule(self) -> None:
        runtime = self._runtime
        self._timer = runtime.timers.call_later(
            runtime.options.heartbeat_interval, partial(tell_quietly, self.actor_ref, Beat())
        )

    def receive(self, message: Any) -> Any:
        """On ``Beat``: renew every active lease, then schedule the next beat."""
        if not isinstance(message, Beat):
            return super().receive(message)
        runtime = self._runtime
        try:
            for run in runtime.runs.snapshot():
                if run.settled or run.work.aborted:
                    continue
                try:
                    held = runtime.storage.heartbeat_run(run.run_id, run.lease_id)
                except Exception as error:
                    runtime.bus.report(error)
                    continue
                if not held:
                    run.abort(LeaseExpiredError(run.run_id))
        finally:
            self._schedule()
        return None

    def on_stop(self) -> None:
        """Cancel the next beat."""
        if self._timer is not None:
            self._timer.cancel()
