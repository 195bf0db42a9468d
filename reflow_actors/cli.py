"""The ``reflow`` command line (also ``python -m reflow_actors``).

::

    reflow runs list [--status S] [--workflow W] [--limit N] [--before CURSOR]
    reflow runs show ID            reflow runs cancel ID       reflow runs resume ID [--app M:E]
    reflow events send ID NAME JSON|- [--app M:E]
    reflow schedules list          reflow schedules remove KEY
    reflow worker MODULE:ENGINE [--poll-interval S] [--verbose]
    reflow demo [--crash-after STEP | --resume]

Global options, before or after the command: ``--db PATH`` (a SQLite file or
a ``postgresql://`` URL; default ``$REFLOW_DB``, else ``./reflow.db``) and
``--json`` (one JSON document on stdout; ``worker`` prints one per line).
Commands that only read open the database read-only and never create it.

Exit codes, which scripts may rely on:

=====  ==========================================================================
0      success
1      refused or false: cancel of a finished run, resume of a run that is not
       failed or cancelled, an event for a finished run, a demo run that failed
2      usage error (bad arguments)
3      not found: no database file, unknown run id, unknown schedule key
4      storage error: unreadable or corrupt database, a newer schema
5      invalid input: bad JSON, a payload that fails validation, an app
       reference (``module:engine``) that cannot be loaded
130    interrupted (Ctrl-C; a second SIGINT/SIGTERM to ``worker``)
=====  ==========================================================================

An error is one line on stderr, ``reflow: error: <message>``, never a
traceback; set ``REFLOW_DEBUG=1`` to see the traceback as well. Only exit 0
prints a JSON document with ``--json``. If stdout is closed early (``reflow runs
list | head``) the command stops quietly with 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from ._cli.database import database_location
from ._cli.errors import CliError, ExitCode
from ._cli.output import Output
from ._cli.parser import build_parser
from .errors import (
    ConfigError,
    InputValidationError,
    ReflowError,
    RunNotFoundError,
    SerializationError,
    StorageError,
    WorkflowNotFoundError,
    describe_error,
)

__all__ = ["ExitCode", "main"]

_INVALID = (ConfigError, InputValidationError, SerializationError, WorkflowNotFoundError)


def _one_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def _failure(error: BaseException, args: argparse.Namespace) -> tuple[str, ExitCode]:
    if isinstance(error, CliError):
        return error.message, error.code
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", ExitCode.INTERRUPTED
    if isinstance(error, RunNotFoundError):
        return str(error), ExitCode.NOT_FOUND
    if isinstance(error, _INVALID):
        return str(error), ExitCode.INVALID
    if isinstance(error, StorageError):
        if args.command in ("worker", "demo"):
            return str(error), ExitCode.STORAGE
        return f"{database_location(args)}: {error}", ExitCode.STORAGE
    if isinstance(error, ReflowError):
        return str(error), ExitCode.REFUSED
    return f"unexpected {describe_error(error)}", ExitCode.REFUSED


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run ``reflow`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error (already printed)
        return stop.code if isinstance(stop.code, int) else ExitCode.USAGE
    out = Output(json=bool(getattr(args, "json", False)))
    try:
        return int(args.handler(args, out))
    except BrokenPipeError:  # the reader went away (``reflow runs list | head``): stop quietly
        _silence_stdout()
        return ExitCode.REFUSED
    except (Exception, KeyboardInterrupt) as error:
        if os.environ.get("REFLOW_DEBUG") == "1":
            traceback.print_exc(file=sys.stderr)
        message, code = _failure(error, args)
        if code == ExitCode.REFUSED and not isinstance(error, (CliError, ReflowError)):
            message += " (set REFLOW_DEBUG=1 for the traceback)"
        print(f"reflow: error: {_one_line(message)}", file=sys.stderr, flush=True)
        return int(code)
