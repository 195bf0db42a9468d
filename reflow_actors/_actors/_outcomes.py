"""What a unit executor tells the run program to do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import Event
from ..records import StepResult

__all__ = ["PASS", "Advance", "Fail", "Finish", "Replayed", "Suspend"]

PASS: Any = object()
"""The output of a unit that leaves ``prev`` as it was (a sleep, a skipped step)."""


@dataclass(frozen=True, slots=True)
class Replayed:
    """The unit was already done: take its stored output (``PASS`` keeps ``prev``)."""

    output: Any = PASS
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Advance:
    """The unit finished: persist ``rows``, then emit ``event``, then go on."""

    output: Any
    rows: tuple[StepResult, ...] = ()
    event: Event | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finish:
    """``ctx.complete(value)``: persist ``rows`` with the run ``completed``."""

    output: Any
    rows: tuple[StepResult, ...] = ()
    event: Event | None = None


@dataclass(frozen=True, slots=True)
class Fail:
    """The unit failed: the run fails at ``step_name`` with ``error``."""

    step_name: str
    error: BaseException
    attempts: int = 0
    rows: tuple[StepResult, ...] = ()


@dataclass(frozen=True, slots=True)
class Suspend:
    """The run is parked (sleeping or waiting) until ``wake_at`` epoch ms."""

    wake_at: int | None
