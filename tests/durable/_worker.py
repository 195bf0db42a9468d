"""A worker process for the multi-process tests: one started engine on a shared SQLite file.

Usage: ``python -m tests.durable._worker DB_PATH POLL_INTERVAL``. It prints
``ready <pid>`` once its engine is started, then runs until a line arrives on
stdin (or stdin closes), stops the engine, closes the storage and exits 0.
"""

from __future__ import annotations

import os
import sys

from reflow_actors import create_engine
from reflow_actors.storage import SQLiteStorage
from tests.durable._workflows import ALL


def main() -> None:
    path, poll_interval = sys.argv[1], float(sys.argv[2])
    storage = SQLiteStorage(path)
    engine = create_engine(storage=storage, workflows=ALL, concurrency=2)
    engine.start(poll_interval=poll_interval)
    print(f"ready {os.getpid()}", flush=True)
    sys.stdin.readline()
    engine.stop(timeout=10)
    storage.close()


if __name__ == "__main__":
    main()
