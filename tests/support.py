"""Helpers shared by the test packages."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    interval: float = 0.005,
    what: str = "",
    message: str | None = None,
) -> T:
    """Return ``predicate()`` once it is truthy; ``AssertionError`` after ``timeout`` s.

    Tests wait on conditions with a deadline, never on a fixed sleep: this polls
    ``predicate`` every ``interval`` s and names it (``what``/``message``, or its
    ``__name__``) when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            name = message or what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout:g}s waiting for {name}")
        time.sleep(interval)
