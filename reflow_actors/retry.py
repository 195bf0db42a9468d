"""Retry policy for steps and branches; the one place retry delays are computed.

:class:`Retry` is the user-facing, frozen policy. The engine asks
:func:`next_delay` after each failed attempt; the answer comes from tenacity's
stop, retry and wait strategies, so the backoff curve is tenacity's and the
engine never sleeps: it schedules a wake-up message instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import tenacity

from .errors import ConfigError, NonRetryableError, RunControlError
from .schedule import Duration, parse_duration

__all__ = ["Backoff", "Retry", "next_delay"]

Backoff = Literal["exponential", "linear", "fixed"]
_BACKOFFS = ("exponential", "linear", "fixed")


@dataclass(frozen=True, slots=True, init=False)
class Retry:
    """How often to try a step and how long to wait between attempts.

    ``max_attempts`` counts the first attempt (``1`` means no retry).
    ``backoff`` is ``"exponential"`` (delays d, 2d, 4d, ...), ``"linear"``
    (d, 2d, 3d, ...) or ``"fixed"`` (d, d, d, ...) with d = ``initial_delay``;
    ``max_delay`` caps each delay. ``timeout`` bounds each attempt (a step's own
    ``timeout=`` takes precedence). Durations are seconds, a ``timedelta`` or a
    string such as ``"250ms"``. Invalid values raise ``ConfigError`` at once.

    A handler that raises :class:`~reflow_actors.errors.NonRetryableError`
    fails the step immediately, whatever attempts are left.
    """

    max_attempts: int
    backoff: Backoff
    initial_delay: float
    max_delay: float | None
    timeout: float | None

    def __init__(
        self,
        max_attempts: int = 1,
        backoff: Backoff = "exponential",
        initial_delay: Duration = 1.0,
        max_delay: Duration | None = None,
        timeout: Duration | None = None,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"Retry max_attempts must be an int >= 1; got {max_attempts!r}")
        if backoff not in _BACKOFFS:
            raise ConfigError(
                f"Retry backoff must be one of {', '.join(_BACKOFFS)}; got {backoff!r}"
            )
        object.__setattr__(self, "max_attempts", max_attempts)
        object.__setattr__(self, "backoff", backoff)
        object.__setattr__(
            self, "initial_delay", parse_duration(initial_delay, what="Retry initial_delay")
        )
        object.__setattr__(
            self,
            "max_delay",
            None if max_delay is None else parse_duration(max_delay, what="Retry max_delay"),
        )
        object.__setattr__(self, "timeout", positive_timeout(timeout, "Retry timeout"))


def positive_timeout(value: Duration | None, what: str) -> float | None:
    """Parse an optional timeout, which must be greater than zero when given."""
    if value is None:
        return None
    seconds = parse_duration(value, what=what)
    if seconds <= 0:
        raise ConfigError(f"{what} must be greater than zero; got {value!r}")
    return seconds


def _wait_strategy(policy: Retry) -> tenacity.wait.wait_base:
    cap = policy.max_delay if policy.max_delay is not None else math.inf
    delay = policy.initial_delay
    if policy.backoff == "exponential":
        return tenacity.wait_exponential(multiplier=delay, exp_base=2, min=0, max=cap)
    if policy.backoff == "linear":
        return tenacity.wait_incrementing(start=delay, increment=delay, max=cap)
    return tenacity.wait_fixed(min(delay, cap))


def _retryable(error: BaseException) -> bool:
    return not isinstance(error, (NonRetryableError, RunControlError))


_STRATEGIES: dict[Retry, tenacity.Retrying] = {}


def _strategies(policy: Retry) -> tenacity.Retrying:
    retrying = _STRATEGIES.get(policy)
    if retrying is None:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.max_attempts),
            wait=_wait_strategy(policy),
            retry=tenacity.retry_if_exception(_retryable),
        )
        _STRATEGIES[policy] = retrying
    return retrying


def next_delay(policy: Retry | None, attempt: int, error: BaseException) -> float | None:
    """Seconds to wait before the next attempt, or ``None`` to give up.

    ``attempt`` is the 1-based number of the attempt that just failed with
    ``error`` (counted within the current execution of the step).
    """
    if policy is None:
        return None
    retrying = _strategies(policy)
    state = tenacity.RetryCallState(retrying, None, (), {})
    state.attempt_number = attempt
    state.set_exception((type(error), error, error.__traceback__))
    if not retrying.retry(state) or retrying.stop(state):
        return None
    return float(retrying.wait(state))
