"""Throughput of reflow-actors on PostgreSQL: enqueue/s and runs/s, 1- and 5-step workflows.

    eval "$(bash .ci/postgres.sh)"
    python benchmarks/pg_bench.py [--runs 2000] [--concurrency 25] [--engines 1]
        [--dsn postgresql://...]   # default: $REFLOW_TEST_POSTGRES_DSN
        [--sqlite]                 # also measure SQLiteStorage (a temp file), for comparison

For each workflow a fresh schema is created (and dropped afterwards). Enqueue
rate: ``--runs`` enqueues through an engine that is not started, from one
thread. Run rate: engines (``--engines`` of them, each with its own pool, as
separate machines would have) are then started with ``--concurrency`` and the
clock runs until the last run has completed. Steps do no work of their own, so
the numbers are the engine's and the database's overhead per run and step.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reflow_actors import Hooks, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage
from reflow_actors.storage.postgres import PostgresStorage

Factory = Callable[[int], Any]  # pool size -> storage


@dataclass
class Row:
    storage: str
    workflow: str
    steps: int
    runs: int
    concurrency: int
    engines: int
    enqueue_per_s: float
    runs_per_s: float

    def markdown(self) -> str:
        shape = f"{self.concurrency} x {self.engines}"
        rates = f"{self.enqueue_per_s:,.0f} | {self.runs_per_s:,.0f}"
        steps = f"{self.runs_per_s * self.steps:,.0f}"
        return f"| {self.storage} | {self.workflow} | {self.runs} | {shape} | {rates} | {steps} |"


def _step(index: int) -> Callable[[Any], Any]:
    def handler(_ctx: Any) -> Any:
        return {"i": index}

    return handler


def _workflow(steps: int) -> Any:
    workflow = create_workflow(f"steps{steps}")
    for index in range(steps):
        workflow = workflow.step(f"s{index}", _step(index))
    return workflow


@contextmanager
def postgres(dsn: str) -> Iterator[Factory]:
    """Storages on one fresh schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        yield lambda pool: PostgresStorage(dsn, schema=schema, pool_size=pool)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def sqlite() -> Iterator[Factory]:
    """Storages on one fresh SQLite file (durability="full")."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        yield lambda _pool: SQLiteStorage(path)


def measure(
    label: str, factory: Factory, steps: int, runs: int, concurrency: int, engines: int
) -> Row:
    workflow = _workflow(steps)
    done = threading.Event()
    lock = threading.Lock()
    completed = 0

    def on_run_complete(_event: object) -> None:
        nonlocal completed
        with lock:
            completed += 1
            if completed >= runs:
                done.set()

    storages = [factory(concurrency + 4) for _ in range(engines)]
    producer_storage = factory(2)
    try:
        producer_storage.initialize()
        producer = create_engine(storage=producer_storage, workflows=[workflow])
        started = time.perf_counter()
        for index in range(runs):
            producer.enqueue(workflow, {"n": index})
        enqueue_seconds = time.perf_counter() - started

        workers = [
            create_engine(
                storage=storage,
                workflows=[workflow],
                concurrency=concurrency,
                hooks=Hooks(on_run_complete=on_run_complete),
            )
            for storage in storages
        ]
        started = time.perf_counter()
        for worker in workers:
            worker.start(poll_interval=0.5)
        if not done.wait(timeout=600):
            raise RuntimeError(f"only {completed} of {runs} runs completed in 600 s")
        run_seconds = time.perf_counter() - started
        for worker in workers:
            worker.stop(timeout=30)
    finally:
        for storage in [*storages, producer_storage]:
            storage.close()
    return Row(
        label,
        f"{steps} step{'s' if steps > 1 else ''}",
        steps,
        runs,
        concurrency,
        engines,
        runs / enqueue_seconds,
        runs / run_seconds,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("REFLOW_TEST_POSTGRES_DSN"))
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--engines", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="add SQLiteStorage rows")
    args = parser.parse_args()
    if not args.dsn:
        parser.error(
            'no --dsn and REFLOW_TEST_POSTGRES_DSN is unset: eval "$(bash .ci/postgres.sh)"'
        )
    with psycopg.connect(args.dsn) as connection:
        server = connection.info.parameter_status("server_version")
        fsync = connection.execute("SHOW fsync").fetchone()
        sync = connection.execute("SHOW synchronous_commit").fetchone()
    print(
        f"PostgreSQL {server} (fsync={fsync[0] if fsync else '?'}, "
        f"synchronous_commit={sync[0] if sync else '?'}), {os.cpu_count()} CPUs\n"
    )
    print("| storage | workflow | runs | concurrency x engines | enqueue/s | runs/s | steps/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    kinds: list[tuple[str, Callable[[], Any]]] = [("PostgreSQL", lambda: postgres(args.dsn))]
    if args.sqlite:
        kinds.append(("SQLite (full)", sqlite))
    for label, storages in kinds:
        for steps in (1, 5):
            with storages() as factory:
                row = measure(label, factory, steps, args.runs, args.concurrency, args.engines)
            print(row.markdown(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
