"""A resumable CLI import: a CSV file loaded into a database in batches, one step per batch.

    python examples/resumable_import.py [--db import-demo.db] [--crash-after N]

Each batch is a durable step: once ``batch-2`` has returned, its result is on
disk and no run of the import will ever execute it again. So an import that
dies half-way is resumed, not restarted:

1. ``--crash-after 2`` imports two batches and then kills the process
   (``os._exit(1)``) as batch 3 begins, the way an OOM kill or a closed laptop
   would. The run is left ``running`` in ``import-demo.db``, still holding the
   dead process's lease.
2. Run the script again (without the flag). ``enqueue`` with the same
   idempotency key returns the *same* run instead of creating a new one. The
   engine reclaims it as soon as the dead process's lease has expired (the
   lease is ``LEASE_SECONDS`` here, kept short for the demo; production
   leases are longer, at the price of a longer wait after a crash) and
   continues at batch 3. Batches 1 and 2 are not imported again.

If a batch *fails* instead (raises), the run ends ``failed``; the next
invocation calls ``engine.resume(run_id)``, which re-queues it: completed
batches are kept and the failed one runs again.

Files, next to the database: ``<name>-customers.csv`` (the source, generated
on first use) and ``<name>-warehouse.sqlite`` (the target, with an
``import_log`` of every batch import that really happened).
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from reflow_actors import StepContext, Workflow, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

ROWS = 50
BATCH_SIZE = 10
BATCHES = ROWS // BATCH_SIZE
LEASE_SECONDS = 2.0


@dataclass(frozen=True)
class ImportJob:
    """The workflow input: what to import where."""

    csv_path: str
    warehouse_path: str
    batch_size: int


class BatchResult(TypedDict):
    batch: int
    rows: int
    pid: int


class Verified(TypedDict):
    rows_in_warehouse: int


# --- source and target ----------------------------------------------------------------


def write_dataset(path: Path) -> None:
    """Generate the demo CSV (deterministic, so every invocation sees the same data)."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "name", "amount_cents"])
        for n in range(1, ROWS + 1):
            writer.writerow([f"cus_{n:03d}", f"Customer {n}", n * 125])


def read_rows(path: str, start: int, stop: int) -> list[dict[str, str]]:
    with Path(path).open(newline="") as file:
        return list(csv.DictReader(file))[start:stop]


def create_warehouse(path: str) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS customers"
            " (id TEXT PRIMARY KEY, name TEXT NOT NULL, amount_cents INTEGER NOT NULL)"
        )
        connection.execute(
            "CREATE TABLE IF NOT EXISTS import_log (batch INTEGER, pid INTEGER, attempt INTEGER)"
        )


def import_rows(path: str, batch: int, attempt: int, rows: list[dict[str, str]]) -> None:
    """Upsert ``rows`` and log the import, in one transaction.

    Upserting makes the step idempotent: if the process died after this commit
    but before reflow recorded the step, the re-run would rewrite the same rows.
    """
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            "INSERT OR REPLACE INTO customers (id, name, amount_cents) VALUES (?, ?, ?)",
            [(row["id"], row["name"], int(row["amount_cents"])) for row in rows],
        )
        connection.execute(
            "INSERT INTO import_log (batch, pid, attempt) VALUES (?, ?, ?)",
            (batch, os.getpid(), attempt),
        )


def read_import_log(path: Path) -> list[int]:
    """The batch number of every import that happened, in order."""
    with closing(sqlite3.connect(path)) as connection:
        return [
            batch for (batch,) in connection.execute("SELECT batch FROM import_log ORDER BY rowid")
        ]


# --- the workflow -----------------------------------------------------------------------

BatchHandler = Callable[[StepContext[ImportJob, Any]], BatchResult]


def batch_step(batch: int, crash_after: int | None) -> BatchHandler:
    """The handler importing batch number ``batch`` (1-based)."""

    def import_batch(ctx: StepContext[ImportJob, Any]) -> BatchResult:
        if crash_after is not None and batch > crash_after:
            print(f"simulated crash as batch {batch} begins", flush=True)
            os._exit(1)  # no cleanup, no atexit: as abrupt as kill -9
        size = ctx.input.batch_size
        rows = read_rows(ctx.input.csv_path, (batch - 1) * size, batch * size)
        import_rows(ctx.input.warehouse_path, batch, ctx.attempt, rows)
        return BatchResult(batch=batch, rows=len(rows), pid=os.getpid())

    return import_batch


def verify(ctx: StepContext[ImportJob, BatchResult]) -> Verified:
    with closing(sqlite3.connect(ctx.input.warehouse_path)) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM customers").fetchone()
    return Verified(rows_in_warehouse=count)


def build_import_workflow(crash_after: int | None = None) -> Workflow[ImportJob, Verified]:
    """``batch-1`` ... ``batch-N`` then ``verify``; ``crash_after`` simulates a crash."""
    workflow: Workflow[ImportJob, Any] = create_workflow("csv-import", input=ImportJob)
    for batch in range(1, BATCHES + 1):
        workflow = workflow.step(f"batch-{batch}", batch_step(batch, crash_after))
    return workflow.step("verify", verify)


# --- running it -----------------------------------------------------------------------------


def main(path: str = "import-demo.db", crash_after: int | None = None) -> dict[str, Any]:
    """Run (or resume) the import; return the run's outcome and the warehouse's import log."""
    db = Path(path)
    source = db.with_name(f"{db.stem}-customers.csv")
    warehouse = db.with_name(f"{db.stem}-warehouse.sqlite")
    if not source.exists():
        write_dataset(source)
    create_warehouse(str(warehouse))
    already_logged = len(read_import_log(warehouse))
    job = ImportJob(str(source.resolve()), str(warehouse.resolve()), BATCH_SIZE)

    workflow = build_import_workflow(crash_after)
    storage = SQLiteStorage(db)
    # heartbeat_interval defaults to a third of the lease: a live process renews
    # its lease well before another engine could consider the run abandoned.
    engine = create_engine(storage=storage, workflows=[workflow], lease_duration=LEASE_SECONDS)
    try:
        # One import of this file is one run: the key makes a second invocation
        # find the run a crashed invocation left behind, rather than start over.
        run = engine.enqueue(workflow, job, idempotency_key=f"import:{job.csv_path}")
        if run.status in ("failed", "cancelled"):
            engine.resume(run.id)  # keep the finished batches, retry the failed one
        engine.start(poll_interval=0.2)  # a crashed run is reclaimed once its lease expires
        info = engine.wait(run.id, timeout=60)
    finally:
        engine.stop()
        storage.close()

    log = read_import_log(warehouse)
    imports_per_batch = dict.fromkeys(range(1, BATCHES + 1), 0)
    for batch in log:
        imports_per_batch[batch] += 1
    verified = info.step("verify")
    return {
        "run_id": info.run.id,
        "status": info.run.status.value,
        "attempts": {step.name: step.attempts for step in info.steps},
        "rows_in_warehouse": verified.output["rows_in_warehouse"] if verified else None,
        "imports_per_batch": imports_per_batch,
        "imported_here": log[already_logged:],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default="import-demo.db", help="the reflow database file")
    parser.add_argument(
        "--crash-after", type=int, default=None, help="die after importing this many batches"
    )
    arguments = parser.parse_args()
    outcome = main(arguments.db, arguments.crash_after)
    print(f"run {outcome['run_id']}: {outcome['status']}")
    print(f"  batches imported by this invocation: {outcome['imported_here'] or 'none'}")
    print(f"  times each batch was imported: {outcome['imports_per_batch']}")
    print(f"  step attempts: {outcome['attempts']}")
    print(f"  rows in the warehouse: {outcome['rows_in_warehouse']}")
