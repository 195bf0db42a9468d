"""Messages between the engine's actors, and the effects a run program yields.

Commands are imperatives (``StartRun``, ``Execute``), facts are past tense
(``Executed``, ``RunFinished``, ``LeaseLost``). All are small frozen
dataclasses; none carries a mutable object another actor will change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pykka

    from ..context import AbortSignal
    from ..workflow import BranchUnit

__all__ = [
    "AwaitMessage",
    "BranchFinished",
    "Delay",
    "DelayElapsed",
    "Execute",
    "Executed",
    "Interrupt",
    "RunFinished",
    "RunOutcome",
    "RunSettling",
    "StartBranch",
    "StartBranches",
    "StartRun",
    "StopRuns",
    "TimedOut",
    "Wake",
]

# --- effects a program yields to the actor that drives it -------------------


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``job(worker)`` on a pooled StepActor; resume with :class:`Executed`.

    With ``timeout``, the driver aborts ``signal`` with ``StepTimeoutError`` and
    resumes at once when it passes. ``work`` marks a handler attempt (as opposed
    to a hook), which a non-control abort of the run's work also ends.
    """

    job: Callable[[Any], Any]
    label: str
    timeout: float | None = None
    signal: AbortSignal | None = None
    step_name: str | None = None
    work: bool = True


@dataclass(frozen=True, slots=True)
class Delay:
    """Resume after ``seconds`` on the engine clock (a retry backoff)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class AwaitMessage:
    """Resume with the next message addressed to the program (a branch result)."""


@dataclass(frozen=True, slots=True)
class StartBranches:
    """Spawn a ParallelBranch actor per branch; their results arrive as messages."""

    branches: tuple[BranchUnit, ...]
    first_attempts: dict[str, int]
    prev: Any
    steps: Any
    signal: AbortSignal


# --- messages ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRun:
    """Dispatcher → RunSupervisor: begin driving the run."""


@dataclass(frozen=True, slots=True)
class Executed:
    """StepActor → its requester: how a job ended (``kind`` says which ``value`` is)."""

    token: int
    kind: Literal["ok", "complete", "error"]
    value: Any


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Timer → driver: the attempt ``token`` ran past its timeout."""

    token: int


@dataclass(frozen=True, slots=True)
class DelayElapsed:
    """Timer → driver: the delay ``token`` is over."""

    token: int


@dataclass(frozen=True, slots=True)
class Interrupt:
    """Signal → driver: the run (or group) was aborted with ``reason``."""

    reason: BaseException


@dataclass(frozen=True, slots=True)
class StartBranch:
    """RunSupervisor → ParallelBranch: run your branch."""


@dataclass(frozen=True, slots=True)
class BranchFinished:
    """ParallelBranch → RunSupervisor: the branch ended (``ok`` with output, or error)."""

    name: str
    ok: bool
    value: Any
    attempts: int
    halted: bool = False


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run's execution on this engine ended.

    ``kind`` is ``completed``, ``failed``, ``suspended`` (sleeping/waiting until
    ``wake_at`` epoch ms, ``None`` for an open-ended wait) or ``halted``
    (cancelled, stopped or lease lost: nothing more was written).
    """

    kind: Literal["completed", "failed", "suspended", "halted"]
    wake_at: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class RunFinished:
    """RunSupervisor → Dispatcher: the run left this engine; its slot is free."""

    run_id: str
    outcome: RunOutcome


@dataclass(frozen=True, slots=True)
class RunSettling:
    """RunSupervisor → Dispatcher: no handler of the run will run again here.

    The run is about to write its final status (or suspend). Its slot is free
    from now on, so the claim of the next run joins the same commit.
    """

    run_id: str


@dataclass(frozen=True, slots=True)
class Wake:
    """Anyone → Dispatcher: there may be work to claim now."""


@dataclass(frozen=True, slots=True)
class StopRuns:
    """Engine → Dispatcher: stop claiming and interrupt every active run."""

    reply_to: pykka.Future[None] | None = field(default=None, compare=False)
