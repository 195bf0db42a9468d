"""The claim index of ``MemoryStorage``: claims never scan the run history.

Pending runs wait in a queue in claim order; only running, sleeping and
waiting runs are scanned for due wake-ups and stale leases.
"""

from __future__ import annotations

import heapq

from reflow_actors.records import TERMINAL_STATUSES, RunStatus
from reflow_actors.storage._memory_rows import RunRow, eligible

__all__ = ["ClaimIndex", "PendingQueue"]


class PendingQueue:
    """Pending runs in claim order (``created_at``, then insertion), for O(log n) claims.

    Entries are removed lazily: a run that left ``pending`` since it was queued
    is skipped when it reaches the front, and a run that comes back to
    ``pending`` is queued again.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []

    def clear(self) -> None:
        """Forget every entry."""
        self._heap.clear()

    def push(self, row: RunRow) -> None:
        """Queue ``row`` (now ``pending``)."""
        heapq.heappush(self._heap, (row.created_at, row.seq, row.id))

    def take(self, rows: dict[str, RunRow], names: set[str], limit: int) -> list[RunRow]:
        """Remove and return up to ``limit`` pending runs of ``names``, oldest first."""
        chosen: list[RunRow] = []
        other: list[tuple[int, int, str]] = []
        heap = self._heap
        while heap and len(chosen) < limit:
            entry = heapq.heappop(heap)
            row = rows.get(entry[2])
            if row is None or row.status is not RunStatus.PENDING or row in chosen:
                continue  # it left pending since: a stale entry
            if row.workflow not in names:
                other.append(entry)  # another engine's workflow: it stays queued
                continue
            chosen.append(row)
        for entry in other:
            heapq.heappush(heap, entry)
        return chosen


class ClaimIndex:
    """Which runs a claim may take, kept up to date as statuses change."""

    def __init__(self) -> None:
        self._pending = PendingQueue()
        self._active: dict[str, RunRow] = {}

    def clear(self) -> None:
        """Forget every run."""
        self._pending.clear()
        self._active.clear()

    def track(self, row: RunRow) -> None:
        """Note ``row``'s current status."""
        if row.status is RunStatus.PENDING:
            self._active.pop(row.id, None)
            self._pending.push(row)
        elif row.status in TERMINAL_STATUSES:
            self._active.pop(row.id, None)
        else:
            self._active[row.id] = row

    def choose(
        self,
        rows: dict[str, RunRow],
        names: set[str],
        limit: int,
        stale_before: int | None,
        now: int,
    ) -> list[RunRow]:
        """Up to ``limit`` claimable runs in claim order (pending ones leave the queue)."""
        chosen = self._pending.take(rows, names, limit)
        if len(chosen) < limit:
            rest = limit - len(chosen)
            chosen += eligible(self._active.values(), names, rest, stale_before, now)
        return chosen

    def unchoose(self, rows: list[RunRow]) -> None:
        """A claim of ``rows`` failed: queue the pending ones again."""
        for row in rows:
            if row.status is RunStatus.PENDING:
                self._pending.push(row)
