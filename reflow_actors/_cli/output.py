"""Where a command writes: result text or one JSON document on stdout, notes on stderr."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson

from .render import to_json

__all__ = ["Output"]


@dataclass
class Output:
    """A command's output streams and whether ``--json`` was asked for.

    The streams default to ``sys.stdout``/``sys.stderr`` as they are when the
    command runs (so pytest's ``capsys`` sees them). Each call writes whole
    lines under a lock, so threads that share an ``Output`` (the worker's
    event log and its main thread) never interleave within a line.
    """

    json: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(text)
            stream.flush()

    def line(self, text: str = "") -> None:
        """Print one line of result text."""
        self._write(self.stdout, text + "\n")

    def lines(self, texts: Iterable[str]) -> None:
        """Print lines of result text."""
        self._write(self.stdout, "".join(text + "\n" for text in texts))

    def document(self, document: Any) -> None:
        """Print the command's JSON document (indented)."""
        self._write(self.stdout, to_json(document) + "\n")

    def record(self, document: Any) -> None:
        """Print one JSON object on one line (a stream of them: ``worker --json``)."""
        self._write(self.stdout, orjson.dumps(document, default=str).decode() + "\n")

    def note(self, text: str) -> None:
        """Print a remark for the person at the terminal to stderr (never parsed)."""
        self._write(self.stderr, text + "\n")
