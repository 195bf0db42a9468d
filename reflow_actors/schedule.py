"""Durations, recurrences and the arithmetic of schedule occurrences (all UTC).

A duration is a number of seconds (``int`` or ``float``), a
:class:`datetime.timedelta`, or a string with a unit: ``"250ms"``, ``"30s"``,
``"5m"``, ``"24h"``, ``"7d"`` (decimals such as ``"1.5s"`` are fine).
Anything else raises :class:`~reflow_actors.errors.ConfigError` naming the value.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .codec import canonical
from .cron import CronExpression, next_cron_occurrence, parse_cron
from .errors import ConfigError

__all__ = [
    "Duration",
    "Recurrence",
    "default_schedule_key",
    "first_occurrence",
    "next_occurrence",
    "parse_duration",
]

Duration = int | float | timedelta | str
"""Seconds, a timedelta, or a string: ``"250ms"``, ``"30s"``, ``"5m"``, ``"24h"``, ``"7d"``."""

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$", re.ASCII)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Duration, *, what: str = "duration") -> float:
    """Return ``value`` in seconds, or raise ``ConfigError`` naming what was wrong.

    ``what`` names the option being parsed in the error message
    (``"sleep 'cool-off' duration"``).
    """
    if isinstance(value, bool):
        raise ConfigError(
            f"{what} must be seconds, a timedelta or a string like '30s'; got {value!r}"
        )
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match is None:
            raise ConfigError(
                f"{what} {value!r} is not a duration; use seconds or a number with a unit: "
                "'250ms', '30s', '5m', '24h', '7d'"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ConfigError(
            f"{what} must be seconds, a timedelta or a string like '30s'; "
            f"got a {type(value).__name__}: {value!r}"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{what} must be a finite, non-negative duration; got {value!r}")
    return seconds


def to_ms(seconds: float) -> int:
    """Seconds to whole epoch milliseconds (rounded)."""
    return round(seconds * 1000)


@dataclass(frozen=True, slots=True)
class Recurrence:
    """How a schedule repeats: exactly one of ``every_ms`` or ``cron`` is set."""

    every_ms: int | None = None
    cron: str | None = None

    @classmethod
    def build(cls, every: Duration | None, cron: str | None) -> Recurrence:
        """Validate ``every=``/``cron=`` as ``schedule()`` takes them."""
        if (every is None) == (cron is None):
            raise ConfigError("a schedule needs exactly one of every= or cron=")
        if every is not None:
            every_ms = to_ms(parse_duration(every, what="schedule every="))
            if every_ms <= 0:
                raise ConfigError(f"schedule every= must be a positive duration; got {every!r}")
            return cls(every_ms=every_ms)
        if not isinstance(cron, str):
            raise ConfigError(f"schedule cron= must be a string; got {cron!r}")
        expression = cron.strip()
        parse_cron(expression)  # raises ConfigError for malformed or impossible expressions
        return cls(cron=expression)

    @property
    def cadence(self) -> str:
        """A stable text form (``every:60000`` or ``cron:0 9 * * 1-5``)."""
        return f"every:{self.every_ms}" if self.every_ms is not None else f"cron:{self.cron}"


def _from_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)


def _cron_after(expression: str | CronExpression, now_ms: int) -> int:
    following = next_cron_occurrence(expression, _from_ms(now_ms))
    return int(following.timestamp() * 1000)


def first_occurrence(recurrence: Recurrence, now_ms: int) -> int:
    """When a schedule registered at ``now_ms`` first fires.

    ``every=`` fires one interval after registration; ``cron=`` at the next
    matching minute strictly after now.
    """
    if recurrence.every_ms is not None:
        return now_ms + recurrence.every_ms
    assert recurrence.cron is not None
    return _cron_after(recurrence.cron, now_ms)


def next_occurrence(
    due_at: int, now_ms: int, *, every_ms: int | None = None, cron: str | None = None
) -> int:
    """The occurrence after firing the one due at ``due_at``, strictly after ``now_ms``.

    A future ``due_at`` is returned unchanged. Missed occurrences are skipped,
    not backfilled: an interval advances by whole intervals in one step, a cron
    expression to its first match after ``now_ms``.
    """
    if due_at > now_ms:
        return due_at
    if cron is not None:
        return _cron_after(cron, now_ms)
    if every_ms is None or not math.isfinite(every_ms) or every_ms <= 0:
        raise ConfigError(f"schedule interval must be a positive number of ms; got {every_ms!r}")
    return due_at + ((now_ms - due_at) // every_ms + 1) * every_ms


def default_schedule_key(workflow: str, recurrence: Recurrence, value: Any) -> str:
    """A key that is the same in every process for the same workflow, recurrence and input.

    The input is encoded canonically (keys sorted at every depth), so dict key
    order does not change the key.
    """
    digest = hashlib.sha256(
        workflow.encode() + b"\0" + recurrence.cadence.encode() + b"\0" + canonical(value, "input")
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:22]
