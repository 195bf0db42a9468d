"""What handlers receive: step, condition and failure contexts, and the ``AbortSignal``.

A step handler gets a :class:`StepContext`; a ``when`` predicate a
:class:`ConditionContext` (no signal, no ``complete``); an ``on_failure``
handler a :class:`FailureContext`. Contexts are generic in the workflow's input
type and the previous unit's output type, so a type checker follows ``prev``
from step to step.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

from .errors import ParallelCompleteError

__all__ = ["AbortSignal", "ConditionContext", "FailureContext", "StepContext"]

InputT_co = TypeVar("InputT_co", covariant=True)
PrevT_co = TypeVar("PrevT_co", covariant=True)
InputT = TypeVar("InputT")


class AbortSignal:
    """Tells a handler to stop: the run was cancelled, timed out, lost its lease, ...

    ``reason`` is the error that explains why: ``RunCancelledError``,
    ``LeaseExpiredError``, ``EngineStoppedError``, ``StepTimeoutError``, or in a
    parallel group the sibling's failure. Long-running handlers should check
    :attr:`aborted`, call :meth:`throw_if_aborted`, or block in :meth:`wait`
    instead of ``time.sleep``. A handler that ignores its signal is not killed
    (Python threads cannot be), but its late result is discarded.

    Thread-safe. A signal aborts once; later aborts are ignored.
    """

    __slots__ = ("_callbacks", "_event", "_lock", "_reason")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: BaseException | None = None
        self._event: threading.Event | None = None
        self._callbacks: list[Callable[[BaseException], object]] = []

    @property
    def aborted(self) -> bool:
        """Whether the signal has been aborted."""
        return self._reason is not None

    @property
    def reason(self) -> BaseException | None:
        """The error the signal was aborted with, or ``None``."""
        return self._reason

    def throw_if_aborted(self) -> None:
        """Raise :attr:`reason` if the signal has been aborted."""
        reason = self._reason
        if reason is not None:
            raise reason

    def wait(self, timeout: float | None = None) -> bool:
        """Block until aborted or ``timeout`` seconds pass; return :attr:`aborted`.

        Use it in place of ``time.sleep`` so cancellation interrupts the wait.
        """
        with self._lock:
            if self._reason is not None:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        event.wait(timeout)
        return self._reason is not None

    def add_callback(self, callback: Callable[[BaseException], object]) -> Callable[[], None]:
        """Call ``callback(reason)`` once when aborted (at once if already aborted).

        Returns a function that removes the callback. Errors raised by the
        callback are swallowed: an abort must reach every listener.
        """
        with self._lock:
            reason = self._reason
            if reason is None:
                self._callbacks.append(callback)
        if reason is not None:
            _call_quietly(callback, reason)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def _abort(self, reason: BaseException) -> bool:
        """Abort with ``reason``; ``False`` if it was already aborted."""
        with self._lock:
            if self._reason is not None:
                return False
            self._reason = reason
            callbacks, self._callbacks = self._callbacks, []
            event = self._event
        if event is not None:
            event.set()
        for callback in callbacks:
            _call_quietly(callback, reason)
        return True

    def _child(self) -> tuple[AbortSignal, Callable[[], None]]:
        """A signal that aborts when this one does; returns it and an unlink function."""
        child = AbortSignal()
        unlink = self.add_callback(child._abort)
        return child, unlink

    def __repr__(self) -> str:
        state = f"aborted: {self._reason!r}" if self._reason is not None else "active"
        return f"<AbortSignal {state}>"


def _call_quietly(callback: Callable[[BaseException], object], reason: BaseException) -> None:
    # A listener's failure must not stop the abort reaching the others.
    with contextlib.suppress(Exception):
        callback(reason)


class _CompleteRun(BaseException):
    """Raised by ``ctx.complete()``; a BaseException so ``except Exception`` can't swallow it."""

    def __init__(self, value: Any) -> None:
        super().__init__("the run was completed early")
        self.value = value


class ConditionContext(Generic[InputT_co, PrevT_co]):
    """What a ``when`` predicate receives: ``input``, ``prev`` and ``steps``."""

    __slots__ = ("_input", "_prev", "_run_id", "_step_name", "_steps", "_workflow")

    def __init__(
        self,
        *,
        input: InputT_co,
        prev: PrevT_co,
        steps: Mapping[str, Any],
        run_id: str,
        step_name: str,
        workflow: str,
    ) -> None:
        self._input = input
        self._prev = prev
        self._steps = steps
        self._run_id = run_id
        self._step_name = step_name
        self._workflow = workflow

    @property
    def input(self) -> InputT_co:
        """The validated workflow input (the same for every step)."""
        return self._input

    @property
    def prev(self) -> PrevT_co:
        """The previous unit's output (``None`` for the first)."""
        return self._prev

    @property
    def steps(self) -> Mapping[str, Any]:
        """Read-only outputs of every earlier completed unit, by name."""
        return self._steps

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._run_id

    @property
    def step_name(self) -> str:
        """The name of this step."""
        return self._step_name

    @property
    def workflow(self) -> str:
        """The workflow's name."""
        return self._workflow


class StepContext(ConditionContext[InputT_co, PrevT_co]):
    """What a step or branch handler receives.

    Adds to :class:`ConditionContext` the attempt's :attr:`signal`, the 1-based
    :attr:`attempt` number (counting attempts across crash recoveries) and
    :meth:`complete`.
    """

    __slots__ = ("_attempt", "_in_branch", "_signal")

    def __init__(
        self,
        *,
        input: InputT_co,
        prev: PrevT_co,
        steps: Mapping[str, Any],
        run_id: str,
        step_name: str,
        workflow: str,
        signal: AbortSignal,
        attempt: int,
        in_branch: bool = False,
    ) -> None:
        super().__init__(
            input=input,
            prev=prev,
            steps=steps,
            run_id=run_id,
            step_name=step_name,
            workflow=workflow,
        )
        self._signal = signal
        self._attempt = attempt
        self._in_branch = in_branch

    @property
    def signal(self) -> AbortSignal:
        """Aborted when this attempt should stop (cancel, timeout, lease loss, ...)."""
        return self._signal

    @property
    def attempt(self) -> int:
        """The 1-based attempt number."""
        return self._attempt

    def complete(self, value: Any = None) -> NoReturn:
        """Finish the run now with ``value`` as this step's output; never returns.

        Later steps do not run. The step is recorded ``completed-early`` before
        the run is marked completed, so a crash in between still finishes the
        run on recovery. Inside a parallel branch this raises
        :class:`~reflow_actors.errors.ParallelCompleteError`.
        """
        if self._in_branch:
            raise ParallelCompleteError(self._step_name)
        raise _CompleteRun(value)


@dataclass(frozen=True, slots=True)
class FailureContext(Generic[InputT]):
    """What an ``on_failure`` handler receives when a run fails.

    ``step_name`` is the step (or, in a parallel group, the branch) that really
    failed; ``error`` is its error.
    """

    error: BaseException
    step_name: str
    input: InputT
    run_id: str
    workflow: str = ""
