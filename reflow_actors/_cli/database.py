"""Opening the database named by ``--db``: read-only for reads, never created by mistake.

``--db`` is a SQLite file path (default ``$REFLOW_DB``, else ``./reflow.db``) or a
``postgresql://`` URL, which needs the ``postgres`` extra. A missing SQLite file
is "not found" (exit 3) for every command but ``demo``, and is never created.

Reads open the file with :class:`SQLiteStorage` ``read_only=True``, so they are
safe beside a running worker. Writes (``cancel``, ``resume``, ``events send``,
``schedules remove``) first check the file read-only, so a file that is not a
reflow database is refused rather than given reflow's tables, then open it
read-write.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..storage import SQLiteStorage
from ..storage.base import StorageAdapter
from .errors import CliError, ExitCode

__all__ = ["DEFAULT_DB", "database_location", "is_url", "opened", "require_file"]

DEFAULT_DB = "reflow.db"
_URL_PREFIXES = ("postgresql://", "postgres://")


def database_location(args: argparse.Namespace, default: str | None = None) -> str:
    """``--db`` if given, else ``default`` if given, else ``$REFLOW_DB``, else ``reflow.db``."""
    given: str | None = getattr(args, "db", None)
    if given:
        return given
    if default is not None:
        return default
    return os.environ.get("REFLOW_DB") or DEFAULT_DB


def is_url(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL server rather than a file."""
    return location.startswith(_URL_PREFIXES)


def require_file(location: str) -> None:
    """Raise "not found" unless the SQLite database file exists."""
    if not os.path.exists(location):  # noqa: PTH110 - the user's path as given, str in and out
        raise CliError(f"no database at {location}", ExitCode.NOT_FOUND)


def _postgres(location: str) -> StorageAdapter:
    try:
        from ..storage.postgres import PostgresStorage  # noqa: PLC0415 - optional dependency
    except ImportError as error:
        raise CliError(
            f"{location.partition('://')[0]}:// databases need PostgreSQL support "
            f"({error}); install it with: pip install 'reflow-actors[postgres]'",
            ExitCode.STORAGE,
        ) from None
    return PostgresStorage(location)


def _read_only(location: str) -> SQLiteStorage:
    require_file(location)
    storage = SQLiteStorage(location, read_only=True)
    try:
        storage.initialize()
    except BaseException:
        storage.close()
        raise
    return storage


@contextmanager
def opened(location: str, *, write: bool = False) -> Iterator[StorageAdapter]:
    """Open and check the database at ``location``; close it on the way out.

    ``write=False`` opens a SQLite file read-only. ``write=True`` checks it
    read-only first, then opens it for writing.
    """
    storage: StorageAdapter
    if is_url(location):
        storage = _postgres(location)
        try:
            storage.initialize()
        except BaseException:
            storage.close()
            raise
    else:
        storage = _read_only(location)
        if write:
            storage.close()
            storage = SQLiteStorage(location)
            try:
                storage.initialize()
            except BaseException:
                storage.close()
                raise
    try:
        yield storage
    finally:
        storage.close()
