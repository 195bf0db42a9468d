"""ParallelBranch: one per branch of a parallel group, child of a RunSupervisor.

It runs its branch's attempt sequence (the same one a sequential step uses:
retries, per-attempt timeouts, backoff as timer messages) and reports
``BranchFinished`` to its supervisor. The group's signal is its work signal:
when a sibling fails, the signal aborts with the sibling's error, the branch's
current attempt is abandoned at once and no further attempt starts.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from ..context import AbortSignal, StepContext
from ..errors import LeaseExpiredError, RunControlError, describe_error
from ..records import StepResult, StepStatus
from ..workflow import BranchUnit
from ._attempts import Attempted, attempt_sequence
from ._base import tell_quietly
from ._driver import ProgramActor
from ._messages import BranchFinished, Interrupt, StartBranch

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["BranchPlan", "ParallelBranch"]


@dataclass(frozen=True, slots=True)
class BranchPlan:
    """Everything a branch needs to run, handed over by its supervisor."""

    run_id: str
    lease_id: str
    workflow: str
    branch: BranchUnit
    first_attempt: int
    input: Any
    prev: Any
    steps: Mapping[str, Any]
    signal: AbortSignal


class ParallelBranch(ProgramActor):
    """Runs one branch and reports its outcome to the supervisor."""

    def __init__(self, runtime: Runtime, supervisor: pykka.ActorRef[Any], plan: BranchPlan) -> None:
        super().__init__(f"ParallelBranch[{plan.run_id}/{plan.branch.name}]", runtime)
        self._supervisor = supervisor
        self._plan = plan
        self._unlisten: Callable[[], None] | None = None
        self._done = False

    def receive(self, message: Any) -> Any:
        """Start on ``StartBranch``; everything else drives the attempts."""
        if isinstance(message, StartBranch):
            plan = self._plan
            self._unlisten = plan.signal.add_callback(
                lambda reason: tell_quietly(self.actor_ref, Interrupt(reason))
            )
            self.begin(self._attempts())
            return None
        return super().receive(message)

    def _attempts(self) -> Generator[Any, Any, Any]:
        plan = self._plan
        branch = plan.branch
        try:
            result: Attempted = yield from attempt_sequence(
                handler=branch.handler,
                is_async=branch.is_async,
                policy=branch.retry,
                timeout=branch.attempt_timeout,
                work=plan.signal,
                first_attempt=plan.first_attempt,
                label=f"{plan.run_id}/{branch.name}",
                step_name=branch.name,
                make_context=self._context,
                record_retry=self._record_retry,
            )
        except RunControlError as control:
            return BranchFinished(
                branch.name, ok=False, value=control, attempts=plan.first_attempt, halted=True
            )
        return BranchFinished(
            branch.name, ok=result.kind == "ok", value=result.value, attempts=result.attempts
        )

    def _context(self, signal: AbortSignal, attempt: int) -> StepContext[Any, Any]:
        plan = self._plan
        return StepContext(
            input=plan.input,
            prev=plan.prev,
            steps=plan.steps,
            run_id=plan.run_id,
            step_name=plan.branch.name,
            workflow=plan.workflow,
            signal=signal,
            attempt=attempt,
            in_branch=True,
        )

    def _record_retry(self, attempt: int, error: BaseException) -> Generator[Any, Any, None]:
        yield from ()  # a generator, so the attempt sequence can ``yield from`` it
        plan = self._plan
        row = StepResult(
            plan.branch.name,
            StepStatus.RUNNING,
            None,
            describe_error(error),
            attempt,
            run_id=plan.run_id,
        )
        if not self.runtime.store.save(plan.run_id, plan.lease_id, [row]):
            raise LeaseExpiredError(plan.run_id)

    def finished(self, result: Any) -> None:
        """Report to the supervisor and stop."""
        if self._done:
            return
        self._done = True
        if self._unlisten is not None:
            self._unlisten()
        tell_quietly(self._supervisor, result)
        self.stop()

    def contain(self, error: BaseException) -> None:
        """Report an unexpected failure as the branch's failure."""
        self._program = None
        plan = self._plan
        self.finished(
            BranchFinished(plan.branch.name, ok=False, value=error, attempts=plan.first_attempt)
        )
