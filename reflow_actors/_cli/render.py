"""Text for a terminal: times, compact values, durations and aligned tables.

Tables fit the terminal: every column but the last keeps its full width (ids
are never cut, so they can be copied), and the last is shortened with ``...``
to what is left. Output that is not a terminal is laid out for 100 columns
unless ``COLUMNS`` says otherwise.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson

__all__ = [
    "compact",
    "duration",
    "iso_time",
    "local_time",
    "shorten",
    "table",
    "terminal_width",
    "to_json",
]

_GAP = "  "
_MIN_LAST = 12  # the last column keeps at least this many characters, even if it wraps
_CONTROL = dict.fromkeys(range(32), " ")


def terminal_width() -> int:
    """Columns of the terminal (``COLUMNS`` or the tty), else 100."""
    return shutil.get_terminal_size((100, 24)).columns


def local_time(ms: int) -> str:
    """Epoch milliseconds as local time, to the second: ``2024-05-01 14:03:09``."""
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def iso_time(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 in UTC, to the millisecond: ``2024-05-01T12:03:09.120Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compact(value: Any) -> str:
    """A persisted value as one line of JSON (datetimes in ISO 8601)."""
    return orjson.dumps(value, default=str).decode()


def to_json(document: Any) -> str:
    """A document for ``--json``: indented JSON, keys in the order built."""
    return orjson.dumps(document, default=str, option=orjson.OPT_INDENT_2).decode()


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with ``...`` when longer."""
    line = text.translate(_CONTROL)
    if len(line) <= width:
        return line
    if width <= 3:
        return line[:width]
    return line[: width - 3] + "..."


def duration(seconds: float) -> str:
    """Seconds as ``1d2h``, ``1h30m``, ``45s`` or ``0.5s``."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    rest = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None
) -> list[str]:
    """Aligned lines of a table; with ``width``, the last column is shortened to fit it."""
    cells = [[cell.translate(_CONTROL) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    used = sum(widths[:-1]) + len(_GAP) * (len(headers) - 1)
    last = widths[-1] if width is None else max(width - used, _MIN_LAST)
    lines = []
    for row in [list(headers), *cells]:
        padded = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        lines.append(_GAP.join([*padded, shorten(row[-1], last)]).rstrip())
    return lines
