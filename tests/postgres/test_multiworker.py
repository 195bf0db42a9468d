"""Three engine processes drain 3,000 runs from one PostgreSQL database, with kills in between.

Workers are real subprocesses (``pg_worker.py``) with a short lease (2 s) and
heartbeat (0.5 s). While the test enqueues 3,000 three-step runs, it SIGKILLs a
busy worker four times and starts a replacement each time. At the end:

* every run is ``completed``, with exactly its three step rows, and no run
  reported completion twice;
* every recorded step output is the one the *last* execution of that step
  produced (per the ledger), and each step saw its predecessor's recorded
  output: a completed step was never executed again behind the engine's back;
* a step executed more than once was in flight on a worker that was killed,
  and the re-executions are bounded by kills x concurrency.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from reflow_actors import create_engine
from reflow_actors.storage.postgres import PostgresStorage
from tests.postgres import pg_flows
from tests.postgres.conftest import admin, wait_until
from tests.postgres.pg_flows import LEDGER_DDL, STEPS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKER = Path(__file__).with_name("pg_worker.py")
RUNS = 3_000
WORKERS = 3
CONCURRENCY = 8
KILL_AT = (400, 1_000, 1_600, 2_200)  # completed-run counts at which a worker is killed
ENQUEUE_THREADS = 4
DEADLINE = 85.0


class Worker:
    """An engine subprocess started from ``pg_worker.py``."""

    def __init__(self, dsn: str, schema: str, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "--dsn",
                dsn,
                "--schema",
                schema,
                "--concurrency",
                str(CONCURRENCY),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("ready "), f"worker did not start: {line!r}\n{self.stderr()}"
        self.pid = int(line.split()[1])

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.close()


def _count(dsn: str, query: str, *params: Any) -> int:
    with admin(dsn) as connection:
        row = connection.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def _reached(dsn: str, query: str, count: int) -> bool:
    return _count(dsn, query) >= count


def _busy(dsn: str, schema: str, pid: int) -> bool:
    """Whether ``pid`` recorded a step in the last 200 ms (it has runs in flight)."""
    query = (
        f'SELECT count(*) FROM "{schema}".ledger '
        "WHERE pid = %s AND at > clock_timestamp() - interval '200 milliseconds'"
    )
    return _count(dsn, query, pid) > 0


def _enqueue_all(dsn: str, schema: str, errors: list[BaseException]) -> None:
    workflow, _hooks, ledger = pg_flows.build(dsn, schema, 1)
    storage = PostgresStorage(dsn, schema=schema, pool_size=ENQUEUE_THREADS)
    engine = create_engine(storage=storage, workflows=[workflow])  # never started

    def enqueue(part: int) -> None:
        try:
            for index in range(part, RUNS, ENQUEUE_THREADS):
                engine.enqueue(workflow, {"n": index}, idempotency_key=f"run-{index}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=enqueue, args=(part,)) for part in range(ENQUEUE_THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=DEADLINE)
    finally:
        storage.close()
        ledger.close()


@pytest.mark.timeout(150)
def test_three_workers_drain_3000_runs_with_kills(
    dsn: str, schema: str, make_storage: Any, workers: list[Worker], tmp_path: Path
) -> None:
    storage = make_storage()
    with admin(dsn) as connection:
        connection.execute(LEDGER_DDL.format(schema=schema))
    spawned = 0

    def spawn() -> Worker:
        nonlocal spawned
        worker = Worker(dsn, schema, tmp_path / f"worker-{spawned}.stderr")
        spawned += 1
        workers.append(worker)
        return worker

    live = [spawn() for _ in range(WORKERS)]
    started = time.monotonic()
    errors: list[BaseException] = []
    enqueuer = threading.Thread(target=_enqueue_all, args=(dsn, schema, errors))
    enqueuer.start()

    completed_query = f"SELECT count(*) FROM \"{schema}\".workflow_runs WHERE status = 'completed'"
    killed: set[int] = set()
    for number, threshold in enumerate(KILL_AT):
        wait_until(
            functools.partial(_reached, dsn, completed_query, threshold),
            timeout=DEADLINE,
            interval=0.02,
            what=f"{threshold} completed runs",
        )
        victim = live[number % WORKERS]
        wait_until(functools.partial(_busy, dsn, schema, victim.pid), what="a busy victim")
        victim.kill()
        killed.add(victim.pid)
        live[number % WORKERS] = spawn()

    enqueuer.join(timeout=DEADLINE)
    assert not enqueuer.is_alive(), "enqueueing did not finish"
    assert not errors, f"enqueue failed: {errors[0]!r}"
    wait_until(
        lambda: _count(dsn, completed_query) >= RUNS,
        timeout=max(1.0, DEADLINE - (time.monotonic() - started)),
        interval=0.05,
        what=f"all {RUNS} runs completed",
    )
    elapsed = time.monotonic() - started
    for worker in live:
        assert worker.stop() == 0, worker.stderr()

    _check(dsn, schema, storage, killed, elapsed)


def _check(dsn: str, schema: str, storage: Any, killed: set[int], elapsed: float) -> None:
    runs = storage.list_runs(limit=RUNS + 10)
    assert len(runs) == RUNS
    assert {run.status.value for run in runs} == {"completed"}

    with admin(dsn) as connection:
        ledger = connection.execute(
            f'SELECT run_id, step, pid, token FROM "{schema}".ledger ORDER BY id'
        ).fetchall()
    executions: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    completions: Counter[str] = Counter()
    for run_id, step, pid, token in ledger:
        if step == "*complete*":
            completions[run_id] += 1
        else:
            executions[(run_id, step)].append((pid, token))

    assert max(completions.values()) == 1, "a run reported completion twice"
    # Hooks of runs finished just before a kill may be lost, never duplicated.
    assert len(completions) >= RUNS - len(killed) * CONCURRENCY

    with ThreadPoolExecutor(max_workers=6) as pool:  # the storage's pool serves them in parallel
        steps = list(pool.map(lambda run: storage.get_step_results(run.id), runs))
    duplicates = 0
    moved = 0
    for run, rows in zip(runs, steps, strict=True):
        assert [(row.name, row.status.value) for row in rows] == [(s, "completed") for s in STEPS]
        previous = None
        for row in rows:
            done = executions[(run.id, row.name)]
            assert done, f"{run.id}/{row.name} was recorded but never executed"
            # The recorded output is the last execution's: nothing ran after it was saved.
            assert row.output["token"] == done[-1][1], f"{run.id}/{row.name} ran after saving"
            assert row.output["prev"] == previous, f"{run.id}/{row.name} saw a stale prev"
            previous = row.output["token"]
            for pid, _token in done[:-1]:
                assert pid in killed, f"{run.id}/{row.name} re-executed without a kill"
            duplicates += len(done) - 1
        if len({row.output["pid"] for row in rows}) > 1:
            moved += 1

    assert duplicates <= len(killed) * CONCURRENCY
    assert duplicates + moved > 0, "no step re-ran and no run changed hands: the kills hit nothing"
    print(
        f"\nmulti-worker: {RUNS} runs, {len(killed)} kills, {duplicates} re-executed steps, "
        f"{moved} runs finished by another worker, {elapsed:.1f}s"
    )
