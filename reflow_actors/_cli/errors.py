"""Exit codes and the one exception a command raises to end with a message and a code."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CliError", "ExitCode"]


class ExitCode(IntEnum):
    """What ``reflow`` exits with; scripts may rely on these values."""

    OK = 0
    REFUSED = 1  # the operation was refused or answered "no"
    USAGE = 2  # bad arguments (argparse)
    NOT_FOUND = 3  # no such database file, run or schedule
    STORAGE = 4  # the database could not be read or written
    INVALID = 5  # bad JSON, a payload that fails validation, an app that cannot be loaded
    INTERRUPTED = 130  # Ctrl-C, or a second SIGINT/SIGTERM


class CliError(Exception):
    """End the command: print ``reflow: error: <message>`` to stderr and exit with ``code``."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
