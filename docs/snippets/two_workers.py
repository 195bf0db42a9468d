"""Two worker processes share one SQLite file; every run executes once, on one of them."""

import os
import subprocess
import sys
import time
from collections import Counter

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

DB = "shared.db"


# --8<-- [start:app]
def resize(ctx: StepContext) -> dict:
    ctx.signal.wait(0.05)  # pretend to work
    return {"image": ctx.input["image"], "pid": os.getpid()}


thumbnails = create_workflow("thumbnails").step("resize", resize)


def make_engine():
    return create_engine(storage=SQLiteStorage(DB), workflows=[thumbnails], concurrency=4)


# --8<-- [end:app]


# --8<-- [start:worker]
def worker() -> None:
    engine = make_engine()
    engine.start(poll_interval=0.1)
    try:  # work until no run is left to do
        while any(not run.status.terminal for run in engine.list_runs(limit=1000)):
            time.sleep(0.1)
    finally:
        engine.stop()


# --8<-- [end:worker]


# --8<-- [start:main]
def main() -> None:
    producer = make_engine()  # never started: it only enqueues and reads
    runs = [producer.enqueue(thumbnails, {"image": f"img-{n}.png"}) for n in range(40)]

    workers = [subprocess.Popen([sys.executable, __file__, "worker"]) for _ in range(2)]
    infos = [producer.wait(run.id, timeout=60) for run in runs]  # sees other processes' work
    for process in workers:
        process.wait(timeout=60)

    assert all(info.run.status == "completed" for info in infos)
    assert all(info.steps[0].attempts == 1 for info in infos)  # no run executed twice
    print(f"{len(infos)} runs completed, each exactly once")
    per_process = Counter(info.steps[0].output["pid"] for info in infos)
    print("runs per worker process:", sorted(per_process.values()))


# --8<-- [end:main]


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        worker()
    else:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(DB + suffix):
                os.remove(DB + suffix)
        main()
