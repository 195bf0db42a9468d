"""A reflow engine in its own process, for the crash tests.

    python tests/crash/worker.py --db X.db --ledger L.db [--block s3]
        [--block-hook decide] [--concurrency 4] [--lease 1] [--heartbeat 0.2]
        [--durability full]

It starts an engine (polling every 50 ms) over the crash-test workflows, prints
``ready <pid>`` once started, and runs until its stdin reaches EOF; then it
stops the engine and exits 0. The tests either close its stdin (a clean stop)
or SIGKILL it mid-step.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # make `tests.crash` importable

from reflow_actors import create_engine
from reflow_actors.storage import SQLiteStorage
from tests.crash import flows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--block", action="append", default=[])
    parser.add_argument("--block-hook", default=None)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--heartbeat", type=float, default=0.2)
    parser.add_argument("--durability", default="full")
    args = parser.parse_args()

    storage = SQLiteStorage(args.db, durability=args.durability)
    engine = create_engine(
        storage=storage,
        workflows=flows.build(args.ledger, block=args.block),
        concurrency=args.concurrency,
        lease_duration=args.lease,
        heartbeat_interval=args.heartbeat,
        hooks=flows.hooks(args.ledger, args.block_hook),
    )
    try:
        engine.start(poll_interval=0.05)
        print(f"ready {os.getpid()}", flush=True)
        sys.stdin.read()  # until the test closes our stdin
    finally:
        engine.stop(timeout=10)
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
