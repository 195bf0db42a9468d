"""Validation of ``create_engine``'s options into one frozen configuration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._actors._runtime import Options
from .errors import ConfigError, DuplicateWorkflowError
from .events import Hooks
from .schedule import Duration, parse_duration
from .storage.base import StorageAdapter
from .workflow import Workflow

__all__ = ["engine_options", "positive_seconds", "registered_workflows"]


def positive_seconds(value: Duration, what: str) -> float:
    """A duration that must be greater than zero (``ConfigError`` naming ``what``)."""
    seconds = parse_duration(value, what=what)
    if seconds <= 0 or not math.isfinite(seconds):
        raise ConfigError(f"{what} must be a positive duration; got {value!r}")
    return seconds


def engine_options(
    *,
    concurrency: int,
    lease_duration: Duration,
    heartbeat_interval: Duration | None,
    max_output_bytes: int,
) -> Options:
    """Check the engine's numeric options; the heartbeat defaults to a third of the lease."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be an int >= 1; got {concurrency!r}")
    lease = positive_seconds(lease_duration, "lease_duration")
    if heartbeat_interval is None:
        heartbeat = lease / 3
    else:
        heartbeat = positive_seconds(heartbeat_interval, "heartbeat_interval")
        if heartbeat >= lease:
            raise ConfigError(
                f"heartbeat_interval ({heartbeat:g}s) must be shorter than "
                f"lease_duration ({lease:g}s)"
            )
    if (
        isinstance(max_output_bytes, bool)
        or not isinstance(max_output_bytes, int)
        or max_output_bytes <= 0
    ):
        raise ConfigError(f"max_output_bytes must be a positive int; got {max_output_bytes!r}")
    return Options(
        concurrency=concurrency,
        lease_ms=round(lease * 1000),
        heartbeat_interval=heartbeat,
        max_output_bytes=max_output_bytes,
    )


def registered_workflows(
    workflows: Sequence[Workflow[Any, Any]], storage: object, hooks: object
) -> dict[str, Workflow[Any, Any]]:
    """Workflows by name (``DuplicateWorkflowError`` on a repeat); checks storage and hooks."""
    if hooks is not None and not isinstance(hooks, Hooks):
        raise ConfigError(f"hooks must be a Hooks object; got {hooks!r}")
    registered: dict[str, Workflow[Any, Any]] = {}
    for workflow in workflows:
        if not isinstance(workflow, Workflow):
            raise ConfigError(f"workflows must be Workflow objects; got {workflow!r}")
        if workflow.name in registered:
            raise DuplicateWorkflowError(workflow.name)
        registered[workflow.name] = workflow
    if not isinstance(storage, StorageAdapter):
        raise ConfigError(f"storage does not implement StorageAdapter: {storage!r}")
    return registered
