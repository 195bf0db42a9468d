"""RunSupervisor: one per claimed run; drives the run program and its children.

Spawned by the Dispatcher for each run it claims. It drives the run program
(``_program``), sends handler attempts to pooled StepActors, spawns a
ParallelBranch per branch of a parallel group, and tells the Dispatcher
``RunFinished`` when the run completed, failed, suspended or halted. A cancel,
stop or lost lease reaches it as ``Interrupt`` (through the run's signals),
which is thrown into the program wherever it is waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import describe_error
from ._base import logger, tell_quietly
from ._driver import ProgramActor
from ._messages import BranchFinished, RunFinished, RunOutcome, StartBranch, StartBranches, StartRun
from ._program import RunProgram
from .parallel_branch import BranchPlan, ParallelBranch

if TYPE_CHECKING:
    from ..storage.base import ClaimedRun
    from ._runtime import ActiveRun, Runtime

__all__ = ["RunSupervisor"]


class RunSupervisor(ProgramActor):
    """Supervises one run on this engine from claim to outcome."""

    def __init__(self, runtime: Runtime, claimed: ClaimedRun, active: ActiveRun) -> None:
        super().__init__(f"RunSupervisor[{claimed.run.id}]", runtime)
        self._claimed = claimed
        self._active = active
        self._program_state: RunProgram | None = None
        self._reported = False

    def receive(self, message: Any) -> Any:
        """Start on ``StartRun``; everything else drives the program."""
        if isinstance(message, StartRun):
            reason = self._active.work.reason
            if reason is not None:
                self.finished(RunOutcome("halted", detail=describe_error(reason)))
                return None
            program = RunProgram(self.runtime, self._claimed, self._active)
            self._program_state = program
            self.begin(program.execute())
            return None
        return super().receive(message)

    def on_message(self, message: Any) -> None:
        """Branch results go to the program."""
        if isinstance(message, BranchFinished):
            self.deliver(message)
        else:
            super().on_message(message)

    def start_branches(self, effect: StartBranches) -> Any:
        """Spawn one ParallelBranch per branch and start them."""
        program = self._program_state
        assert program is not None
        run = self._claimed.run
        for branch in effect.branches:
            plan = BranchPlan(
                run_id=run.id,
                lease_id=program.lease_id,
                workflow=run.workflow,
                branch=branch,
                first_attempt=effect.first_attempts[branch.name],
                input=program.input,
                prev=effect.prev,
                steps=effect.steps,
                signal=effect.signal,
            )
            ref = ParallelBranch.start(self.runtime, self.actor_ref, plan)
            ref.tell(StartBranch())
        return None

    def finished(self, result: Any) -> None:
        """Tell the Dispatcher how the run ended, then stop."""
        if self._reported:
            return
        self._reported = True
        outcome = result if isinstance(result, RunOutcome) else RunOutcome("halted")
        dispatcher = self.runtime.dispatcher
        if dispatcher is not None:
            tell_quietly(dispatcher, RunFinished(self._claimed.run.id, outcome))
        self.stop()

    def contain(self, error: BaseException) -> None:
        """A bug in the engine: leave the run to its lease, report, and stop."""
        logger.error(
            "RunSupervisor[%s] failed; the run stays claimable once its lease expires",
            self._claimed.run.id,
            exc_info=(type(error), error, error.__traceback__),
        )
        self.runtime.bus.report(error)
        self._program = None
        self.finished(RunOutcome("halted", detail=describe_error(error)))
