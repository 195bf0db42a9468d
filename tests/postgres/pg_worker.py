"""A reflow engine on PostgreSQL in its own process, for the multi-worker test.

    python tests/postgres/pg_worker.py --dsn DSN --schema S [--concurrency 8]
        [--lease 2] [--heartbeat 0.5] [--poll 0.5]

It starts an engine over :mod:`tests.postgres.pg_flows`, prints ``ready <pid>``
once started, and runs until its stdin reaches EOF; then it stops the engine
and exits 0. The test either closes its stdin or SIGKILLs it mid-run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # make `tests.postgres` importable

from reflow_actors import create_engine
from reflow_actors.storage.postgres import PostgresStorage
from tests.postgres import pg_flows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--poll", type=float, default=0.5)
    args = parser.parse_args()

    workflow, hooks, ledger = pg_flows.build(args.dsn, args.schema, args.concurrency + 1)
    storage = PostgresStorage(args.dsn, schema=args.schema, pool_size=args.concurrency + 2)
    engine = create_engine(
        storage=storage,
        workflows=[workflow],
        concurrency=args.concurrency,
        lease_duration=args.lease,
        heartbeat_interval=args.heartbeat,
        hooks=hooks,
    )
    try:
        engine.start(poll_interval=args.poll)
        print(f"ready {os.getpid()}", flush=True)
        sys.stdin.read()  # until the test closes our stdin
    finally:
        engine.stop(timeout=10)
        storage.close()
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
