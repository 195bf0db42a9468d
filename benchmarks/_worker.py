"""One benchmark measurement, run in its own interpreter by ``bench.py``.

Prints a single JSON object on its last line of output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import apsw

from reflow_actors import Engine, Workflow, create_engine, create_workflow
from reflow_actors.storage import MemoryStorage, SQLiteStorage, StorageAdapter


def rss_mb() -> float:
    """Current resident set size in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """Peak resident set size in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def make_storage(mode: str, directory: str, name: str) -> StorageAdapter:
    """A fresh storage of the requested kind."""
    if mode == "memory":
        return MemoryStorage()
    path = Path(directory) / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}.db"
    return SQLiteStorage(path, durability=mode)


def workflow(steps: int, record: dict[str, float] | None = None) -> Workflow[Any, Any]:
    """A workflow of ``steps`` trivial steps (the first may record when it started)."""

    def first(ctx: Any) -> dict[str, int]:
        if record is not None:
            record[ctx.run_id] = time.perf_counter()
        return {"i": 0}

    built: Workflow[Any, Any] = create_workflow("bench").step("s0", first)
    for index in range(1, steps):
        built = built.step(f"s{index}", lambda _ctx: {"i": 1})
    return built


def drain(engine: Engine, ids: list[str]) -> None:
    """Wait until no run is pending or running, checking every 10 ms.

    A light poll (two index lookups) rather than ``engine.wait`` per run, which
    would wake this thread and read every run's steps as each one finishes.
    """
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        busy = engine.list_runs(status="pending", limit=1) or engine.list_runs(
            status="running", limit=1
        )
        if not busy:
            for run_id in (ids[0], ids[-1]):
                engine.wait(run_id, timeout=1)
            return
        time.sleep(0.01)
    raise TimeoutError("runs still pending or running after 600 s")


def cmd_raw_fsync(options: argparse.Namespace) -> dict[str, Any]:
    path = Path(options.dir) / f"raw-{os.getpid()}.db"
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    count = 500
    started = time.perf_counter()
    for _ in range(count):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t (v) VALUES (?)", ("x" * 64,))
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return {"commits_per_s": count / elapsed}


def cmd_enqueue(options: argparse.Namespace) -> dict[str, Any]:
    storage = make_storage(options.mode, options.dir, "enqueue")
    flow = workflow(1)
    engine = create_engine(storage=storage, workflows=[flow])
    engine.enqueue(flow, {"n": -1})  # initializes storage outside the timing
    started = time.perf_counter()
    for index in range(options.runs):
        engine.enqueue(flow, {"n": index})
    elapsed = time.perf_counter() - started
    storage.close()
    return {"enqueue_per_s": options.runs / elapsed}


def timed_drain(options: argparse.Namespace, storage: StorageAdapter, steps: int) -> float:
    flow = workflow(steps)
    engine = create_engine(storage=storage, workflows=[flow], concurrency=options.concurrency)
    ids = [engine.enqueue(flow, {"n": index}).id for index in range(options.runs)]
    started = time.perf_counter()
    engine.start(poll_interval=1.0)
    drain(engine, ids)
    elapsed = time.perf_counter() - started
    engine.stop()
    info = engine.get_run_status(ids[-1])
    assert info is not None
    assert info.run.status == "completed", info
    return elapsed


def cmd_drain(options: argparse.Namespace) -> dict[str, Any]:
    storage = make_storage(options.mode, options.dir, "drain")
    elapsed = timed_drain(options, storage, options.steps)
    storage.close()
    return {
        "runs_per_s": options.runs / elapsed,
        "steps_per_s": options.runs * options.steps / elapsed,
        "seconds": elapsed,
        "peak_rss_mb": peak_rss_mb(),
    }


def cmd_latency(options: argparse.Namespace) -> dict[str, Any]:
    storage = make_storage(options.mode, options.dir, "latency")
    started_at: dict[str, float] = {}
    flow = workflow(1, started_at)
    engine = create_engine(storage=storage, workflows=[flow], concurrency=options.concurrency)
    engine.start(poll_interval=1.0)
    samples: list[float] = []
    for index in range(options.samples + 20):
        before = time.perf_counter()
        run = engine.enqueue(flow, {"n": index})
        engine.wait(run.id, timeout=30)
        if index >= 20:  # warm-up: thread pools, statement caches
            samples.append((started_at[run.id] - before) * 1000)
    engine.stop()
    storage.close()
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[int(len(samples) * 0.99) - 1],
        "samples": len(samples),
    }


def preload_history(path: Path, count: int) -> None:
    """Write ``count`` completed runs with one step each, straight into the file."""
    storage = SQLiteStorage(path, durability="normal")
    storage.initialize()
    storage.close()
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    base = int(time.time() * 1000) - count - 1000
    batch = 50_000
    for start in range(0, count, batch):
        stop = min(count, start + batch)
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO workflow_runs (id, workflow, input, idempotency_key, lease_id, status, "
            "wake_at, created_at, updated_at) VALUES (?, 'bench', '{}', NULL, NULL, "
            "'completed', NULL, ?, ?)",
            ((f"h{index:08d}", base + index, base + index) for index in range(start, stop)),
        )
        connection.executemany(
            "INSERT INTO workflow_steps (id, run_id, name, status, output, error, attempts, "
            "created_at, updated_at) VALUES (?, ?, 's0', 'completed', '{\"i\":0}', NULL, 1, ?, ?)",
            (
                (f"s{index:08d}", f"h{index:08d}", base + index, base + index)
                for index in range(start, stop)
            ),
        )
        connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def claim_query_ms(path: Path) -> float:
    """How long one claim takes on this file (a pending run of another workflow exists)."""
    storage = SQLiteStorage(path, durability="normal")
    storage.initialize()
    samples = []
    for _ in range(50):
        started = time.perf_counter()
        storage.claim_next_run(["nothing-registered"])
        samples.append((time.perf_counter() - started) * 1000)
    storage.close()
    return statistics.median(samples)


def cmd_history(options: argparse.Namespace) -> dict[str, Any]:
    empty = Path(options.dir) / f"empty-{os.getpid()}.db"
    full = Path(options.dir) / f"history-{os.getpid()}.db"
    preload_history(full, options.history)
    results = {}
    for label, path in (("empty", empty), ("with_history", full)):
        rates = []
        for _ in range(3):
            storage = SQLiteStorage(path, durability=options.mode)
            rates.append(options.runs / timed_drain(options, storage, 1))
            storage.close()
        results[f"{label}_runs_per_s"] = statistics.median(rates)
    results["claim_ms"] = claim_query_ms(full)
    return results


def cmd_rss(options: argparse.Namespace) -> dict[str, Any]:
    storage = make_storage(options.mode, options.dir, "rss")
    flow = workflow(1)
    engine = create_engine(storage=storage, workflows=[flow], concurrency=options.concurrency)
    engine.start(poll_interval=1.0)
    marks = {}
    done = 0
    for target in (2_000, 20_000):
        ids = [engine.enqueue(flow, {"n": index}).id for index in range(target - done)]
        drain(engine, ids)
        done = target
        marks[f"rss_after_{target}_mb"] = rss_mb()
    engine.stop()
    storage.close()
    return marks


def main() -> None:
    """Parse the measurement's options, run it, print its JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command", choices=["raw-fsync", "enqueue", "drain", "latency", "history", "rss"]
    )
    parser.add_argument("--mode", default="full", choices=["memory", "normal", "full"])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--dir", default=".")
    options = parser.parse_args()
    command = {
        "raw-fsync": cmd_raw_fsync,
        "enqueue": cmd_enqueue,
        "drain": cmd_drain,
        "latency": cmd_latency,
        "history": cmd_history,
        "rss": cmd_rss,
    }[options.command]
    result = command(options)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
