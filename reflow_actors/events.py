"""Lifecycle events (for hooks and ``engine.stream()``) and the ``Hooks`` bundle.

Every event carries ``type``, ``run_id`` and ``workflow`` (the name), plus
``step_name``, ``output``, ``attempts`` or ``error`` where they apply. Order
within a run: ``run_start``, then per step ``step_start`` and ``step_complete``
(or ``step_skipped`` alone for a skipped step), then ``run_complete`` or
``run_failed``. ``run_start`` fires on every execution of a run, including the
resumption after a sleep, a wait or a crash.

Each hook and each stream gets its own copy of an event's ``output``: mutating
it changes neither the run nor what other observers see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .errors import ConfigError

__all__ = [
    "Event",
    "EventType",
    "Hooks",
    "RunComplete",
    "RunFailed",
    "RunStart",
    "StepComplete",
    "StepSkipped",
    "StepStart",
]

EventType = Literal[
    "run_start", "step_start", "step_skipped", "step_complete", "run_complete", "run_failed"
]


@dataclass(frozen=True, slots=True)
class RunStart:
    """A run began (or resumed) executing on this engine."""

    run_id: str
    workflow: str
    type: ClassVar[Literal["run_start"]] = "run_start"


@dataclass(frozen=True, slots=True)
class StepStart:
    """A step, branch, sleep or wait began (not emitted for replayed or skipped steps)."""

    run_id: str
    workflow: str
    step_name: str
    type: ClassVar[Literal["step_start"]] = "step_start"


@dataclass(frozen=True, slots=True)
class StepSkipped:
    """A step's ``when`` returned false; the step was recorded ``skipped``."""

    run_id: str
    workflow: str
    step_name: str
    type: ClassVar[Literal["step_skipped"]] = "step_skipped"


@dataclass(frozen=True, slots=True)
class StepComplete:
    """A step finished and its output was persisted; ``attempts`` it took."""

    run_id: str
    workflow: str
    step_name: str
    output: Any
    attempts: int
    type: ClassVar[Literal["step_complete"]] = "step_complete"


@dataclass(frozen=True, slots=True)
class RunComplete:
    """The run completed; ``output`` is the last unit's output."""

    run_id: str
    workflow: str
    output: Any
    type: ClassVar[Literal["run_complete"]] = "run_complete"


@dataclass(frozen=True, slots=True)
class RunFailed:
    """The run failed at ``step_name`` with ``error``."""

    run_id: str
    workflow: str
    step_name: str
    error: BaseException
    type: ClassVar[Literal["run_failed"]] = "run_failed"


Event = RunStart | StepStart | StepSkipped | StepComplete | RunComplete | RunFailed
"""Any lifecycle event; narrow on ``event.type`` or ``isinstance``."""

_EVENT_TYPES = (
    "run_start",
    "step_start",
    "step_skipped",
    "step_complete",
    "run_complete",
    "run_failed",
)


@dataclass(frozen=True, slots=True)
class Hooks:
    """Callbacks for lifecycle events; each may be a plain function or ``async def``.

    Hooks of one run are awaited in order before the run goes on. A hook that
    raises never changes the run: the error is wrapped in
    :class:`~reflow_actors.errors.HookError` and passed to ``on_error``, which
    also receives other background failures (schedule firing, polling,
    storage errors while claiming). ``on_error`` is not awaited by the engine.
    """

    on_run_start: Callable[[RunStart], Any] | None = None
    on_step_start: Callable[[StepStart], Any] | None = None
    on_step_skipped: Callable[[StepSkipped], Any] | None = None
    on_step_complete: Callable[[StepComplete], Any] | None = None
    on_run_complete: Callable[[RunComplete], Any] | None = None
    on_run_failed: Callable[[RunFailed], Any] | None = None
    on_error: Callable[[BaseException], Any] | None = None
    _by_type: dict[str, Callable[[Any], Any]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for event_type in (*_EVENT_TYPES, "error"):
            hook: object = getattr(self, f"on_{event_type}")
            if hook is None:
                continue
            if not callable(hook):
                raise ConfigError(f"Hooks.on_{event_type} must be callable; got {hook!r}")
            if event_type != "error":
                self._by_type[event_type] = hook

    def for_type(self, event_type: str) -> Callable[[Any], Any] | None:
        """The hook registered for ``event_type`` (``"step_complete"``), if any."""
        return self._by_type.get(event_type)
