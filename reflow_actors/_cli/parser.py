"""The argument parser: global options, the exit-code epilog, and each command group's parsers.

``--db`` and ``--json`` are accepted before the command and after it
(``reflow --json runs list`` and ``reflow runs list --json``): each leaf
command shares a parent parser whose defaults are suppressed, so a value given
in either place survives.
"""

from __future__ import annotations

import argparse

from .. import __version__
from . import demo, events, runs, schedules, worker

__all__ = ["EPILOG", "build_parser"]

EPILOG = """\
exit codes:
  0    success
  1    refused or false (cancel a finished run, resume a run that is not failed)
  2    usage error
  3    not found (no database file, unknown run id, unknown schedule key)
  4    storage error (unreadable or corrupt database, newer schema)
  5    invalid input (bad JSON, payload fails validation, app cannot be loaded)
  130  interrupted

Errors are one line on stderr: "reflow: error: ...". REFLOW_DEBUG=1 adds the traceback.
The database is --db PATH, else $REFLOW_DB, else ./reflow.db; commands that only
read open it read-only, so they are safe beside a running worker.
"""


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="SQLite file or postgresql:// URL (default: $REFLOW_DB, else ./reflow.db)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout instead of text",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The ``reflow`` parser; each leaf command sets ``handler``."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="reflow",
        description="Inspect and operate reflow-actors workflow runs.",
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"reflow-actors {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (runs, events, schedules, worker, demo):
        group.register(commands, common)
    return parser
