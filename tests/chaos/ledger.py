"""The side-effect ledger: what step handlers really did, kept outside reflow's storage.

An append-only file of JSON lines. Each append is a single ``write(2)`` on a
descriptor opened with ``O_APPEND``: the kernel appends it whole (a ``kill -9``
cannot split a system call) and orders appends from every process, so the
line order is the global order in which things happened. The page cache
survives the death of the process that wrote it, which is all a crash test
needs (power loss is not simulated).

Entries carry ``run``, ``step``, ``attempt``, ``pid``, ``at`` (epoch seconds,
for diagnosis) and ``phase``:
``start`` when a handler begins, ``done`` (with its ``output``) just before it
returns, ``write`` for a fenced storage call and its answer (``op``, ``ok``),
``complete`` from an ``on_run_complete`` hook, and ``mark`` for a note the
test itself makes (``"sigstop"``). Workers and tests both import this module.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT
_lock = threading.Lock()
_descriptors: dict[str, int] = {}


@dataclass(frozen=True)
class Entry:
    """One ledger line; ``seq`` is its position in the file (the global order)."""

    seq: int
    run: str
    step: str
    attempt: int
    pid: int
    phase: str
    output: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


def _descriptor(path: str) -> int:
    with _lock:
        fd = _descriptors.get(path)
        if fd is None:
            fd = _descriptors[path] = os.open(path, _FLAGS, 0o644)
        return fd


def create(path: str) -> None:
    """Create an empty ledger file."""
    with open(path, "x", encoding="utf-8"):
        pass


def append(
    path: str,
    run: str,
    step: str,
    attempt: int,
    phase: str,
    output: Any = None,
    **extra: Any,
) -> None:
    """Append one entry with a single ``write``."""
    record = {
        "run": run,
        "step": step,
        "attempt": attempt,
        "pid": os.getpid(),
        "phase": phase,
        "at": time.time(),
    }
    if output is not None:
        record["output"] = output
    if extra:
        record["extra"] = extra
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    written = os.write(_descriptor(path), line)
    if written != len(line):  # pragma: no cover - a regular file takes a small write whole
        raise OSError(f"short ledger append: {written} of {len(line)} bytes")


def read(path: str) -> tuple[list[Entry], int]:
    """Every whole entry in append order, and how many torn lines were skipped.

    A torn line (no trailing newline, or not JSON) would mean an append was cut
    short; the harness reports it rather than guessing what it said.
    """
    with open(path, "rb") as file:
        data = file.read()
    entries: list[Entry] = []
    torn = 0
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # no newline at the end: the last append did not finish
        torn += 1
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            torn += 1
            continue
        entries.append(
            Entry(
                seq=len(entries),
                run=record["run"],
                step=record["step"],
                attempt=record["attempt"],
                pid=record["pid"],
                phase=record["phase"],
                output=record.get("output"),
                extra=record.get("extra", {}),
                at=record.get("at", 0.0),
            )
        )
    return entries, torn


def close_all() -> None:
    """Close this process's ledger descriptors (tests call it at teardown)."""
    with _lock:
        descriptors = list(_descriptors.values())
        _descriptors.clear()
    for fd in descriptors:
        os.close(fd)
