"""Where a command writes: result text or one JSON document on stdout, notes on stderr."""

from __future__ import annotations

import sys
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
    command runs (so pytest's ``capsys`` sees them).
    """

    json: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def line(self, text: str = "") -> None:
        """Print one line of result text."""
        print(text, file=self.stdout, flush=True)

    def lines(self, texts: Iterable[str]) -> None:
        """Print lines of result text."""
        for text in texts:
            print(text, file=self.stdout)
        self.stdout.flush()

    def document(self, document: Any) -> None:
        """Print the command's JSON document (indented)."""
        print(to_json(document), file=self.stdout, flush=True)

    def record(self, document: Any) -> None:
        """Print one JSON object on one line (a stream of them: ``worker --json``)."""
        print(orjson.dumps(document, default=str).decode(), file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        """Print a remark for the person at the terminal to stderr (never parsed)."""
        print(text, file=self.stderr, flush=True)
