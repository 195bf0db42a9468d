"""The attempt sequence of one step or branch: attempts, timeouts, retry delays.

Written as a generator of effects so that both the RunSupervisor (for
sequential steps) and a ParallelBranch (for its branch) drive the same logic:
the actor performs each yielded effect (run a job on a StepActor, wait for a
delay) and resumes the generator with what happened. No thread ever sleeps for
a retry delay; the wait is a timer message.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..context import AbortSignal, StepContext
from ..errors import RunControlError
from ..retry import Retry, next_delay
from ._messages import Delay, Execute, Executed

__all__ = ["Attempted", "attempt_sequence"]

Effects = Generator[Any, Any, "Attempted"]


@dataclass(frozen=True, slots=True)
class Attempted:
    """How a step's attempts ended: ``ok`` (value), ``complete`` (value) or ``error``."""

    kind: str
    value: Any
    attempts: int


def _keep() -> None:
    return None


def _run_sync(handler: Callable[[Any], Any], context: StepContext[Any, Any], _worker: Any) -> Any:
    return handler(context)


def _run_async(handler: Callable[[Any], Any], context: StepContext[Any, Any], worker: Any) -> Any:
    return worker.run_coroutine(handler(context), context.signal)


def attempt_sequence(
    *,
    handler: Callable[[Any], Any],
    is_async: bool,
    policy: Retry | None,
    timeout: float | None,
    work: AbortSignal,
    first_attempt: int,
    label: str,
    step_name: str,
    make_context: Callable[[AbortSignal, int], StepContext[Any, Any]],
    record_retry: Callable[[int, BaseException], Generator[Any, Any, None]],
) -> Effects:
    """Run attempts until one succeeds, the policy gives up, or ``work`` aborts.

    ``first_attempt`` is the attempt number to start from (attempts survive
    crash recoveries). ``record_retry(next_attempt, error)`` persists the
    failure and the next attempt's start marker before the retry delay. A
    control-flow abort (cancel, stop, lost lease) propagates as
    ``RunControlError``; any other abort of ``work`` fails the step with its
    reason and starts no further attempt.
    """
    run = _run_async if is_async else _run_sync
    attempt = first_attempt
    used = 0
    while True:
        reason = work.reason
        if reason is not None:
            if isinstance(reason, RunControlError):
                raise reason
            return Attempted("error", reason, attempt)
        if timeout is None:
            # Only a timeout aborts a single attempt; otherwise the attempt stops
            # exactly when the work does, so it can share the work's signal.
            signal, unlink = work, _keep
        else:
            signal, unlink = work._child()
        context = make_context(signal, attempt)
        used += 1
        try:
            result: Executed = yield Execute(
                job=partial(run, handler, context),
                label=label,
                timeout=timeout,
                signal=signal,
                step_name=step_name,
            )
        except RunControlError:
            raise
        except BaseException as thrown:  # an abort delivered while the attempt ran
            result = Executed(0, "error", thrown)
        finally:
            unlink()
        if result.kind != "error":
            return Attempted(result.kind, result.value, attempt)
        error: BaseException = result.value
        reason = work.reason
        if reason is not None:
            if isinstance(reason, RunControlError):
                raise reason
            return Attempted("error", reason if error is reason else error, attempt)
        delay = next_delay(policy, used, error)
        if delay is None:
            return Attempted("error", error, attempt)
        attempt += 1
        yield from record_retry(attempt, error)
        if delay > 0:
            try:
                yield Delay(delay)
            except RunControlError:
                raise
            except BaseException as thrown:
                return Attempted("error", thrown, attempt - 1)
