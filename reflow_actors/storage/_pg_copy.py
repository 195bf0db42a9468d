"""``copy_storage``: move existing runs, step rows, buffered events and schedules to PostgreSQL.

Runs, step rows and schedules are read through the ``StorageAdapter`` Protocol
(``list_runs`` page by page, ``get_step_results``, ``list_schedules``), so any
adapter can be the source. Two things the Protocol does not expose are read
from a :class:`~reflow_actors.storage.SQLiteStorage` file directly, through its
documented schema: buffered events (the Protocol can only *take* them) and the
wake times of sleeping and waiting runs. From another source, events are not
copied and sleeping or waiting runs get a wake time of "now", which is safe:
an engine that claims such a run early re-reads its sleep or wait row and
suspends it again until the real time.

The copy is idempotent: a run or schedule whose id or key the target already
has is skipped, with everything belonging to it. Copy with the engines
stopped; a run left ``running`` by a crash is copied as such and reclaimed
once its lease is stale.
"""
# pyright: reportArgumentType=false, reportCallIssue=false
# (queries are constant templates plus a validated schema identifier; psycopg types
# query strings as LiteralString, which a template filled in at import is not)

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw
from psycopg import Connection

from reflow_actors.codec import encode
from reflow_actors.records import RunStatus, StepResult, WorkflowRun
from reflow_actors.storage._common import recurrence_of
from reflow_actors.storage._pg_sql import Sql
from reflow_actors.storage._translate import translate_errors
from reflow_actors.storage.base import StorageAdapter

if TYPE_CHECKING:
    from reflow_actors.storage.postgres import PostgresStorage

__all__ = ["CopyReport", "copy_storage"]

Conn = Connection[Any]
Event = tuple[str, str | None, int]
"""A buffered event as stored: ``(event_name, payload JSON, created_at)``."""

_SUSPENDED = (RunStatus.SLEEPING, RunStatus.WAITING)


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_storage` did."""

    runs: int
    """Runs copied."""
    runs_skipped: int
    """Runs the target already had (same id or same idempotency key), left as they were."""
    steps: int
    """Step rows copied."""
    events: int
    """Buffered events copied."""
    schedules: int
    """Schedules copied."""
    schedules_skipped: int
    """Schedules the target already had (same key), left as they were."""
    exact: bool
    """``True`` when events and wake times were read from a SQLite file; see the module."""


@dataclass
class _SqliteExtras:
    wake_at: dict[str, int]
    events: dict[str, list[Event]]


def _sqlite_extras(source: StorageAdapter) -> _SqliteExtras | None:
    """Wake times and buffered events from a SQLite source's file, or ``None``."""
    from reflow_actors.storage.sqlite import SQLiteStorage  # noqa: PLC0415 - only for this check

    if not isinstance(source, SQLiteStorage) or source.path == ":memory:":
        return None
    connection = apsw.Connection(source.path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        wake_at = {
            str(run_id): int(when)
            for run_id, when in connection.execute(
                "SELECT id, wake_at FROM workflow_runs WHERE wake_at IS NOT NULL"
            )
        }
        events: dict[str, list[Event]] = {}
        for run_id, name, payload, created_at in connection.execute(
            "SELECT run_id, event_name, payload, created_at FROM workflow_events "
            "ORDER BY created_at, rowid"
        ):
            events.setdefault(str(run_id), []).append((str(name), payload, int(created_at)))
    finally:
        connection.close()
    return _SqliteExtras(wake_at, events)


def _pages(source: StorageAdapter, page_size: int) -> Iterator[list[WorkflowRun]]:
    page = source.list_runs(limit=page_size)
    while page:
        yield page
        last = page[-1]
        page = source.list_runs(limit=page_size, before=last.created_at, before_id=last.id)


def _restore_step(connection: Conn, sql: Sql, step: StepResult) -> None:
    connection.execute(
        sql.restore_step,
        (
            step.id,
            step.run_id,
            step.name,
            step.status.value,
            encode(step.output, "output"),
            step.error,
            step.attempts,
            step.created_at,
            step.updated_at,
        ),
    )


@dataclass
class _Batch:
    """One page of runs with what belongs to them, restored in one transaction."""

    runs: list[tuple[WorkflowRun, int | None, list[StepResult], list[Event]]]

    def restore(self, connection: Conn, sql: Sql) -> tuple[int, int, int]:
        copied = steps = events = 0
        with connection.transaction():
            for run, wake_at, rows, buffered in self.runs:
                values = (run.id, run.workflow, encode(run.input, "input"), run.idempotency_key)
                inserted = connection.execute(
                    sql.restore_run,
                    (*values, run.status.value, wake_at, run.created_at, run.updated_at),
                ).fetchone()
                if inserted is None:
                    continue
                copied += 1
                for step in rows:
                    _restore_step(connection, sql, step)
                for name, payload, created_at in buffered:
                    connection.execute(sql.restore_event, (run.id, name, payload, created_at))
                steps += len(rows)
                events += len(buffered)
        return copied, steps, events


def _restore_schedule(connection: Conn, sql: Sql, params: tuple[Any, ...]) -> int:
    return connection.execute(sql.restore_schedule, params).rowcount


@translate_errors
def copy_storage(
    source: StorageAdapter, target: PostgresStorage, *, page_size: int = 500
) -> CopyReport:
    """Copy every run (with its step rows and buffered events) and schedule into ``target``.

    ``target`` is initialized first. Runs are copied a page of ``page_size`` at
    a time, each page in one transaction; rerunning the copy skips what is
    already there. Returns the counts.
    """
    target.initialize()
    extras = _sqlite_extras(source)
    now = target._clock.now_ms()
    sql = target._sql
    totals = [0, 0, 0, 0]  # runs seen, copied, steps, events
    for page in _pages(source, page_size):
        entries = []
        for run in reversed(page):  # oldest first: insertion order breaks claim-order ties
            if extras is not None:
                wake_at = extras.wake_at.get(run.id)
                events = extras.events.get(run.id, [])
            else:
                wake_at = now if run.status in _SUSPENDED else None
                events = []
            entries.append((run, wake_at, source.get_step_results(run.id), events))
        batch = _Batch(entries)
        copied, steps, events_copied = target._run(
            "copy_storage", functools.partial(batch.restore, sql=sql)
        )
        totals = [
            totals[0] + len(page),
            totals[1] + copied,
            totals[2] + steps,
            totals[3] + events_copied,
        ]
    schedules = 0
    listed = source.list_schedules()
    for schedule in listed:
        interval_ms, cron = recurrence_of(schedule)
        params = (
            schedule.key,
            schedule.workflow,
            encode(schedule.input, "input"),
            interval_ms,
            cron,
            schedule.next_run_at,
            schedule.created_at,
            schedule.updated_at,
        )
        schedules += target._run(
            "copy_storage", functools.partial(_restore_schedule, sql=sql, params=params)
        )
    return CopyReport(
        runs=totals[1],
        runs_skipped=totals[0] - totals[1],
        steps=totals[2],
        events=totals[3],
        schedules=schedules,
        schedules_skipped=len(listed) - schedules,
        exact=extras is not None,
    )
