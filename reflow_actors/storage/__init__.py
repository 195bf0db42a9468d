"""Where runs live: the ``StorageAdapter`` contract and the two adapters that ship with it.

* :class:`SQLiteStorage` — one SQLite file (APSW, WAL, group commit), shared by
  threads and processes; ``durability="full"`` fsyncs every commit.
* :class:`MemoryStorage` — in-process dicts, for tests; the reference semantics.

Any object with the :class:`StorageAdapter` methods works with the engine; the
optional :class:`SupportsClaimBatch`, :class:`SupportsProgress`,
:class:`SupportsCancel`, :class:`SupportsConsumeEvent` and :class:`SupportsWakeups`
methods are fast paths it uses when present (both adapters here implement all
but the last).
``reflow_actors.conformance.CASES`` checks an adapter against the contract.
"""

from reflow_actors.storage.base import (
    ClaimedRun,
    Prepare,
    StorageAdapter,
    SupportsCancel,
    SupportsClaimBatch,
    SupportsConsumeEvent,
    SupportsProgress,
    SupportsWakeups,
)
from reflow_actors.storage.memory import MemoryStorage
from reflow_actors.storage.sqlite import SQLiteStorage

__all__ = [
    "ClaimedRun",
    "MemoryStorage",
    "Prepare",
    "SQLiteStorage",
    "StorageAdapter",
    "SupportsCancel",
    "SupportsClaimBatch",
    "SupportsConsumeEvent",
    "SupportsProgress",
    "SupportsWakeups",
]
