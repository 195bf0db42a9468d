"""What a read-only ``SQLiteStorage`` does instead of writing: check the schema, refuse writes.

A read-only adapter never migrates. Its ``initialize()`` reads ``PRAGMA
user_version`` and the table names and refuses, with a ``StorageError`` that
says why, a file that is not a reflow database, one this code is too old to
read, or one that was never migrated (a reflow-ts database at version 0).
"""

from __future__ import annotations

import apsw

from reflow_actors.errors import StorageError
from reflow_actors.storage._sqlite_rows import Row
from reflow_actors.storage._sqlite_schema import SCHEMA_VERSION

__all__ = ["READ_ONLY", "check_schema", "read_only_error"]

READ_ONLY = "storage is read-only"
"""The detail of the ``StorageError`` every write method of a read-only adapter raises."""

_TABLES = ("workflow_events", "workflow_runs", "workflow_schedules", "workflow_steps")


def read_only_error(operation: str) -> StorageError:
    """Build the error a write method of a read-only adapter raises."""
    return StorageError(operation, READ_ONLY)


def check_schema(connection: apsw.Connection, path: str) -> None:
    """Raise ``StorageError("initialize", ...)`` unless ``path`` holds a schema we can read."""
    found: list[Row] = connection.execute("PRAGMA user_version").fetchall()
    version = int(found[0][0])
    if version > SCHEMA_VERSION:
        raise StorageError(
            "initialize",
            f"the database schema version is {version}, newer than the {SCHEMA_VERSION} "
            "this reflow-actors knows; upgrade reflow-actors to open it",
        )
    tables = {
        str(row[0])
        for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    missing = [table for table in _TABLES if table not in tables]
    if missing and (version > 0 or len(missing) == len(_TABLES)):
        raise StorageError(
            "initialize", f"{path!r} is not a reflow database (no {', '.join(missing)} table)"
        )
    if version == 0:
        raise StorageError(
            "initialize",
            f"{path!r} has not been migrated to this reflow-actors' schema yet; "
            "open it once read-write (start an engine on it) to migrate it",
        )
