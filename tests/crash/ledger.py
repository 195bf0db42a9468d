"""A side-effect ledger: what step handlers really did, kept outside reflow's storage.

Handlers append ``(run_id, step, attempt, pid, phase, output)`` rows to a
separate SQLite file through the stdlib ``sqlite3`` module, one committed
transaction per append, so a row written before a ``kill -9`` is still there
afterwards. ``phase`` is ``"start"`` when a handler begins and ``"done"`` just
before it returns its output (plus ``"run_complete"``/``"error"`` for hooks).
Both the worker subprocess and the tests import this module.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL,
    step    TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    pid     INTEGER NOT NULL,
    phase   TEXT NOT NULL,
    output  TEXT,
    at_ms   INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class Entry:
    """One ledger row."""

    seq: int
    run_id: str
    step: str
    attempt: int
    pid: int
    phase: str
    output: Any
    at_ms: int


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # survives a process crash
    return connection


def create(path: str) -> None:
    """Create an empty ledger file."""
    connection = _connect(path)
    try:
        connection.execute(_SCHEMA)
    finally:
        connection.close()


def append(path: str, run_id: str, step: str, attempt: int, phase: str, output: Any = None) -> None:
    """Append one entry in its own committed transaction."""
    connection = _connect(path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO ledger (run_id, step, attempt, pid, phase, output, at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                step,
                attempt,
                os.getpid(),
                phase,
                None if output is None else json.dumps(output),
                int(time.time() * 1000),
            ),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()


def read(path: str) -> list[Entry]:
    """Every entry, in append order."""
    connection = _connect(path)
    try:
        rows = connection.execute(
            "SELECT seq, run_id, step, attempt, pid, phase, output, at_ms FROM ledger ORDER BY seq"
        ).fetchall()
    finally:
        connection.close()
    return [
        Entry(seq, run_id, step, attempt, pid, phase, None if out is None else json.loads(out), at)
        for seq, run_id, step, attempt, pid, phase, out, at in rows
    ]
