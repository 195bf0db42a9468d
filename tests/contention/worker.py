"""One contending engine process.

    python tests/contention/worker.py --db X.db --ledger L.jsonl --errors E.jsonl
        --runs 2500 [--concurrency 8] [--lease 2] [--durability full]

It starts an engine (polling every 50 ms), prints ``ready <pid>``, waits for a
``go`` line on stdin (so every process starts enqueuing at the same moment),
enqueues ``--runs`` runs as fast as it can while its engine and the other
processes claim and execute, prints ``enqueued <n>``, and then runs until
stdin reaches EOF; then it
stops the engine and exits 0. An exception from ``enqueue`` is recorded in the
errors file like an ``on_error`` report: both are errors a user would see.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # make `tests` importable

from reflow_actors import create_engine
from reflow_actors.storage import SQLiteStorage
from tests.chaos import flows as chaos_flows
from tests.chaos.storage import ChaosStorage
from tests.contention import flows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--errors", required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--durability", default="full")
    args = parser.parse_args()

    storage = SQLiteStorage(args.db, durability=args.durability)
    engine = create_engine(
        # Logs refused lease writes: a re-executed step must be explained by a lost lease.
        storage=ChaosStorage(storage, record=args.ledger, refusals_only=True),
        workflows=flows.build(args.ledger),
        concurrency=args.concurrency,
        lease_duration=args.lease,
        hooks=flows.hooks(args.ledger, args.errors),
    )
    report = chaos_flows.error_hook(args.errors)
    try:
        engine.start(poll_interval=0.05)
        print(f"ready {os.getpid()}", flush=True)
        enqueued = 0
        if sys.stdin.readline().strip() == "go":
            for n in range(args.runs):
                try:
                    engine.enqueue(flows.WORKFLOW, {"pid": os.getpid(), "n": n})
                except Exception as error:
                    report(error)
                else:
                    enqueued += 1
        print(f"enqueued {enqueued}", flush=True)
        sys.stdin.read()  # until the driver closes our stdin
    finally:
        engine.stop(timeout=30)
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
