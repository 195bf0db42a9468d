"""The contention driver: N processes enqueue and drain runs on one SQLite file at once.

Each process runs an engine (``concurrency`` runs at a time, ``lease`` s
leases) and, on a common ``go``, enqueues its share of runs while all of them
claim and execute. Nobody crashes, so there is no excuse for anything but
exactly once. The driver waits until every enqueued run is completed, stops
the processes (each must exit 0), and reports:

* runs lost (enqueued, never completed) and runs double-completed (two
  ``on_run_complete`` notifications);
* steps executed twice. The contract allows that only for a step in flight
  when its process lost the lease (a renewal or a save refused by storage,
  which the workers log): on an overloaded machine a lease can lapse while its
  process is alive. A second execution without such a refusal is a bug;
* every error users would have seen: ``enqueue`` exceptions and ``on_error``
  reports, by type, with ``BusyError``/``StorageError`` called out (busy waits
  must be absorbed inside storage, by its bounded retries);
* claim fairness: runs completed per process (the pid in the stored output
  of each run's last step), and the min/max ratio.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from reflow_actors.storage import SQLiteStorage
from tests.chaos import ledger
from tests.chaos.harness import Worker, wait_until
from tests.chaos.invariants import run_counts
from tests.contention import flows

WORKER = Path(__file__).with_name("worker.py")


@dataclass(frozen=True)
class ContentionConfig:
    """One contention session's shape."""

    name: str
    processes: int = 4
    runs: int = 250  # per process
    concurrency: int = 8
    lease: float = 2.0
    durability: str = "full"
    timeout: float = 900.0


SHORT = ContentionConfig("short", runs=250)
LONG = ContentionConfig("long", runs=2500)


@dataclass
class ContentionFindings:
    """What a contention session measured."""

    enqueued: int = 0
    completed: int = 0
    lost: int = 0
    double_completed: int = 0
    duplicate_steps: int = 0
    unexplained_duplicates: int = 0
    leases_lost: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    storage_errors: int = 0
    per_process: dict[int, int] = field(default_factory=dict)
    exit_codes: list[int] = field(default_factory=list)
    tracebacks: int = 0
    seconds: float = 0.0

    @property
    def fairness(self) -> float:
        """Fewest runs completed by one process over the most (1.0 is perfectly even)."""
        counts = list(self.per_process.values())
        return min(counts) / max(counts) if counts and max(counts) else 0.0


def run_contention(config: ContentionConfig, directory: Path) -> ContentionFindings:
    """Run one session in ``directory`` and return what it measured."""
    directory.mkdir(parents=True, exist_ok=True)
    db = str(directory / "reflow.db")
    ledger_path = str(directory / "ledger.jsonl")
    errors_path = str(directory / "errors.jsonl")
    log = directory / "workers.log"
    ledger.create(ledger_path)
    ledger.create(errors_path)
    storage = SQLiteStorage(db, durability=config.durability)
    # Created once up front: engines opening a brand-new file at the same moment are
    # a separate case (test_startup_race.py), kept out of these figures.
    storage.initialize()
    storage.close()
    found = ContentionFindings()
    args = [
        "--db", db, "--ledger", ledger_path, "--errors", errors_path,
        "--runs", str(config.runs), "--concurrency", str(config.concurrency),
        "--lease", str(config.lease), "--durability", config.durability,
    ]  # fmt: skip
    workers = [Worker(WORKER, args, log) for _ in range(config.processes)]
    try:
        for worker in workers:
            worker.wait_ready(timeout=60)
        started = time.monotonic()
        for worker in workers:
            worker.send_line("go")
        for worker in workers:
            line = worker.read_line(timeout=config.timeout)
            assert line.startswith("enqueued "), line
            found.enqueued += int(line.split()[1])

        def drained() -> bool:
            return run_counts(db).get("completed", 0) >= found.enqueued

        wait_until(drained, timeout=config.timeout, interval=0.05, what="every run to complete")
        found.seconds = time.monotonic() - started
        found.exit_codes = [worker.stop(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            worker.close()
    _measure(found, db, ledger_path, errors_path)
    found.tracebacks = log.read_text().count("Traceback") if log.exists() else 0
    return found


def _measure(found: ContentionFindings, db: str, ledger_path: str, errors_path: str) -> None:
    counts = run_counts(db)
    found.completed = counts.get("completed", 0)
    found.lost = found.enqueued - found.completed
    entries, _ = ledger.read(ledger_path)
    starts = Counter((e.run, e.step) for e in entries if e.phase == "start")
    found.duplicate_steps = sum(count - 1 for count in starts.values() if count > 1)
    refused = {(e.run, e.pid) for e in entries if e.phase == "write" and not e.extra["ok"]}
    found.leases_lost = len(refused)
    for (run, step), count in starts.items():
        if count > 1:
            executors = [e.pid for e in entries if (e.run, e.step, e.phase) == (run, step, "start")]
            # Every execution but the last must have been cut off by a lost lease.
            found.unexplained_duplicates += sum(
                1 for pid in executors[:-1] if (run, pid) not in refused
            )
    completes = Counter(e.run for e in entries if e.phase == "complete")
    found.double_completed = sum(1 for count in completes.values() if count > 1)
    found.per_process = _completed_by(db)
    errors, _ = ledger.read(errors_path)
    for error in errors:
        kind = str(error.extra.get("type"))
        cause = str(error.extra.get("cause") or "")
        found.errors[kind] += 1
        if kind == "StorageError" or "BusyError" in cause:
            found.storage_errors += 1


def _completed_by(db: str) -> dict[int, int]:
    """Runs completed per process: the pid in the stored output of each run's last step."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT output FROM workflow_steps WHERE name = ? AND status = 'completed'",
            (flows.STEPS[-1],),
        ).fetchall()
    finally:
        connection.close()
    return dict(Counter(json.loads(output)["pid"] for (output,) in rows))


def table(rows: list[tuple[ContentionConfig, ContentionFindings]]) -> str:
    """The published figures, as a Markdown table."""
    header = (
        "| session | processes x runs | concurrency / lease | completed | lost "
        "| double-completed | steps run twice (after a lost lease / unexplained) "
        "| StorageError/BusyError seen by users "
        "| runs completed per process | fairness (min/max) | seconds | runs/s |"
    )
    lines = [header, "|" + "---|" * 12]
    for config, found in rows:
        per = " / ".join(str(count) for count in sorted(found.per_process.values(), reverse=True))
        rate = found.completed / found.seconds if found.seconds else 0.0
        lines.append(
            f"| {config.name} | {config.processes} x {config.runs} "
            f"| {config.concurrency} / {config.lease:g} s | {found.completed} | {found.lost} "
            f"| {found.double_completed} "
            f"| {found.duplicate_steps - found.unexplained_duplicates} / "
            f"{found.unexplained_duplicates} | {found.storage_errors} "
            f"| {per} | {found.fairness:.2f} | {found.seconds:.1f} | {rate:.0f} |"
        )
    return "\n".join(lines)
