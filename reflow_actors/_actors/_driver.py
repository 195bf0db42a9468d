"""ProgramActor: an actor that drives a generator of effects, message by message.

A run (or a branch) is written as a sequential generator that yields effects:
:class:`Execute` a job on a StepActor, :class:`Delay` for a retry backoff,
:class:`AwaitMessage` for the next branch result. The actor performs the effect
and returns to its inbox; the message that answers it (``Executed``,
``TimedOut``, ``DelayElapsed``, a branch result) resumes the generator. So the
program reads top to bottom while the actor's inbox never blocks on a handler,
a timeout or a delay, and an ``Interrupt`` (cancel, stop, lost lease) can be
thrown into the program wherever it is waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import StepTimeoutError
from ._base import BaseActor, tell_quietly
from ._messages import (
    AwaitMessage,
    Delay,
    DelayElapsed,
    Execute,
    Executed,
    Interrupt,
    StartBranches,
    TimedOut,
)

if TYPE_CHECKING:
    from ._runtime import Runtime
    from ._timers import TimerHandle

__all__ = ["ProgramActor"]

_MESSAGE = -1  # the token used while the program waits for a message


class ProgramActor(BaseActor):
    """Drives one program; subclasses start it and handle its result."""

    def __init__(self, thread_name: str, runtime: Runtime) -> None:
        super().__init__(thread_name, runtime.threads)
        self.runtime = runtime
        self._program: Generator[Any, Any, Any] | None = None
        self._awaiting = 0
        self._effect: Execute | None = None
        self._timer: TimerHandle | None = None
        self._mailbox: deque[Any] = deque()

    # --- driving ------------------------------------------------------------------

    def begin(self, program: Generator[Any, Any, Any]) -> None:
        """Start driving ``program``."""
        self._program = program
        self._advance(None, None)

    def _advance(self, value: Any, error: BaseException | None) -> None:
        program = self._program
        if program is None:
            return
        while True:
            try:
                effect = program.throw(error) if error is not None else program.send(value)
            except StopIteration as stop:
                self._program = None
                self.finished(stop.value)
                return
            value, error = None, None
            if isinstance(effect, Execute):
                self._execute(effect)
                return
            if isinstance(effect, Delay):
                if effect.seconds <= 0:
                    continue
                token = self.runtime.pool.next_token()
                self._awaiting = token
                self._timer = self.runtime.timers.call_later(
                    effect.seconds,
                    partial(tell_quietly, self.actor_ref, DelayElapsed(token)),
                    kind="delay",
                )
                return
            if isinstance(effect, AwaitMessage):
                if self._mailbox:
                    value = self._mailbox.popleft()
                    continue
                self._awaiting = _MESSAGE
                return
            if isinstance(effect, StartBranches):
                value = self.start_branches(effect)
                continue
            raise TypeError(f"unknown effect {effect!r}")

    def _execute(self, effect: Execute) -> None:
        runtime = self.runtime
        token = runtime.pool.next_token()
        self._awaiting = token
        self._effect = effect
        if effect.timeout is not None:
            self._timer = runtime.timers.call_later(
                effect.timeout, partial(tell_quietly, self.actor_ref, TimedOut(token))
            )
        runtime.pool.submit(effect.job, label=effect.label, reply_to=self.actor_ref, token=token)

    def _resume(self, value: Any = None, error: BaseException | None = None) -> None:
        if self._effect is not None and (
            error is not None or (isinstance(value, Executed) and value.token != self._awaiting)
        ):
            self.runtime.pool.abandon(self._awaiting)
        self._awaiting = 0
        self._effect = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._advance(value, error)

    # --- messages ------------------------------------------------------------------

    def receive(self, message: Any) -> Any:
        """Resume the program with the answer to the effect it is waiting on."""
        if isinstance(message, Executed):
            if message.token == self._awaiting:
                self._resume(message)
        elif isinstance(message, TimedOut):
            effect = self._effect
            if message.token == self._awaiting and effect is not None:
                timeout = StepTimeoutError(effect.timeout or 0.0, effect.step_name)
                if effect.signal is not None:
                    effect.signal._abort(timeout)
                # The handler may ignore its signal: stop waiting for it now.
                self.runtime.pool.abandon(message.token)
                self._resume(Executed(message.token, "error", timeout))
        elif isinstance(message, DelayElapsed):
            if message.token == self._awaiting:
                self._resume()
        elif isinstance(message, Interrupt):
            self.interrupt(message.reason)
        else:
            self.on_message(message)
        return None

    def deliver(self, message: Any) -> None:
        """Hand a message to the program (now, if it is waiting for one)."""
        if self._awaiting == _MESSAGE:
            self._resume(message)
        else:
            self._mailbox.append(message)

    def interrupt(self, reason: BaseException) -> None:
        """Throw ``reason`` into the program at the effect it is waiting on."""
        if self._program is not None and self._awaiting != 0:
            self._resume(error=reason)

    # --- for subclasses -----------------------------------------------------------

    def on_message(self, message: Any) -> None:
        """Handle a message that is not an effect's answer."""
        super().receive(message)

    def start_branches(self, effect: StartBranches) -> Any:
        """Perform :class:`StartBranches` (only the RunSupervisor does)."""
        raise TypeError(f"{type(self).__name__} cannot start {len(effect.branches)} branches")

    def finished(self, result: Any) -> None:
        """The program returned ``result``."""
        raise NotImplementedError
