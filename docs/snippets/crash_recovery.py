"""A worker dies mid-step (os._exit); a second engine reclaims the run once its lease is stale.

Run it with no arguments: it starts the worker that crashes as a child process,
then recovers the run itself.
"""

import os
import subprocess
import sys

from reflow_actors import StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

DB = "crash-demo.db"
WHO = "worker" if os.environ.get("CRASH") == "1" else "recovery"


# --8<-- [start:workflow]
def reserve(ctx: StepContext) -> dict:
    print(f"[{WHO}] reserve, attempt {ctx.attempt}", flush=True)
    return {"reserved": True}


def charge(ctx: StepContext) -> dict:
    print(f"[{WHO}] charge, attempt {ctx.attempt}", flush=True)
    if os.environ.get("CRASH") == "1":
        os._exit(1)  # the process dies here: no cleanup, no final write
    return {"charged": True}


def ship(ctx: StepContext) -> dict:
    print(f"[{WHO}] ship, attempt {ctx.attempt}", flush=True)
    return {"shipped": True}


order = create_workflow("order").step("reserve", reserve).step("charge", charge).step("ship", ship)


def make_engine():
    # A short lease so the demo recovers quickly; the default is 30 s.
    return create_engine(storage=SQLiteStorage(DB), workflows=[order], lease_duration=1)


# --8<-- [end:workflow]


def crashing_worker() -> None:
    engine = make_engine()
    engine.start()
    run = engine.enqueue(order, {"order_id": "o-1"}, idempotency_key="o-1")
    engine.wait(run.id)  # never returns: the process dies inside "charge"


# --8<-- [start:recover]
def recover() -> None:
    crashed = subprocess.run(
        [sys.executable, __file__], env={**os.environ, "CRASH": "1"}, check=False
    )
    print(f"worker exited with {crashed.returncode}")

    engine = make_engine()
    # The same idempotency key returns the run the dead worker left "running".
    run = engine.enqueue(order, {"order_id": "o-1"}, idempotency_key="o-1")
    print(f"run is {engine.get_run_status(run.id).run.status}")
    engine.start(poll_interval=0.2)
    try:
        info = engine.wait(run.id, timeout=30)
        print(f"run is {info.run.status}")
    finally:
        engine.stop()
    for step in info.steps:
        print(f"{step.name:<8} {step.status:<10} attempts={step.attempts}")


# --8<-- [end:recover]


if __name__ == "__main__":
    if os.environ.get("CRASH") == "1":
        crashing_worker()
    else:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(DB + suffix):
                os.remove(DB + suffix)
        recover()
