"""A reflow engine in its own process, for the chaos and fencing tests.

    python tests/chaos/worker.py --db X.db --ledger L.jsonl --errors E.jsonl
        [--concurrency 4] [--lease 2] [--heartbeat 0.25] [--durability full]
        [--work 0.1] [--self-kill 0.02] [--record-writes]
        [--gate-step s3 --gate /path/to/gate]

It starts an engine (polling every 50 ms) over ``chaos5`` on a SQLite file
wrapped in :class:`~tests.chaos.storage.ChaosStorage`, prints ``ready <pid>``
once started, and runs until its stdin reaches EOF; then it stops the engine
and exits 0. Every lease write storage refuses is logged to the ledger
(``--record-writes`` logs the accepted ones too). The driver SIGKILLs it at
random moments; with ``--self-kill`` it also SIGKILLs itself from inside
storage writes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # make `tests.chaos` importable

from reflow_actors import create_engine
from reflow_actors.storage import SQLiteStorage
from tests.chaos import flows
from tests.chaos.storage import ChaosStorage


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--errors", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--heartbeat", type=float, default=0.25)
    parser.add_argument("--durability", default="full")
    parser.add_argument("--work", type=float, default=0.0)
    parser.add_argument("--self-kill", type=float, default=0.0)
    parser.add_argument("--record-writes", action="store_true")
    parser.add_argument("--gate-step", default=None)
    parser.add_argument("--gate", default=None)
    args = parser.parse_args()

    sqlite = SQLiteStorage(args.db, durability=args.durability)
    # Refused lease writes are always logged: they explain a re-execution without a kill.
    storage = ChaosStorage(
        sqlite,
        self_kill=args.self_kill,
        record=args.ledger,
        refusals_only=not args.record_writes,
    )
    engine = create_engine(
        storage=storage,
        workflows=flows.build(
            args.ledger, work=args.work, gate_step=args.gate_step, gate=args.gate
        ),
        concurrency=args.concurrency,
        lease_duration=args.lease,
        heartbeat_interval=args.heartbeat,
        hooks=flows.hooks(args.ledger, args.errors),
    )
    try:
        engine.start(poll_interval=0.05)
        print(f"ready {os.getpid()}", flush=True)
        sys.stdin.read()  # until the driver closes our stdin
    finally:
        engine.stop(timeout=20)
        sqlite.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
