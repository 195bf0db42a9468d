"""One SQLite file shared by several adapters and processes; durability across reopening."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import reflow_actors
from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun, WorkflowSchedule
from reflow_actors.storage import SQLiteStorage

CHILD = """
import json, sys
from reflow_actors.records import RunStatus, WorkflowRun
from reflow_actors.storage import SQLiteStorage

path, mode, name = sys.argv[1], sys.argv[2], sys.argv[3]
# "normal": what is raced here is the claim, not the fsync; it keeps the test quick.
storage = SQLiteStorage(path, durability="normal", busy_timeout=20)
print("ready", flush=True)
sys.stdin.readline()  # every process starts at once
try:
    if mode == "claim":
        claimed = []
        while (run := storage.claim_next_run(["wf"])) is not None:
            claimed.append(run.id)
        result = claimed
    elif mode == "initialize":
        storage.initialize()
        result = "ok"
    else:
        run = WorkflowRun(name, "wf", {}, "same-key", RunStatus.PENDING, 1, 1)
        created = storage.create_run(run)
        result = [created.run.id, created.created]
finally:
    storage.close()
print(json.dumps(result), flush=True)
"""


def _in_processes(tmp_path: Path, database: Path, mode: str, count: int) -> list[Any]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    root = str(Path(reflow_actors.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with contextlib.ExitStack() as stack:
        children = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, str(script), str(database), mode, f"p{index}"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
            for index in range(count)
        ]
        stack.callback(_kill_stragglers, children)
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ready", child.stderr.read() if child.stderr else line
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results


def _kill_stragglers(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        if child.poll() is None:
            child.kill()


@pytest.mark.timeout(90)
def test_four_processes_claim_each_of_2000_runs_exactly_once(
    tmp_path: Path, sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path, durability="normal")
    total = 2_000
    for index in range(total):
        storage.create_run(
            WorkflowRun(f"run{index:04d}", "wf", {}, None, RunStatus.PENDING, index, 0)
        )
    claimed_by = _in_processes(tmp_path, sqlite_path, "claim", 4)
    everything = [run_id for claims in claimed_by for run_id in claims]
    assert len(everything) == total
    assert sorted(everything) == [f"run{index:04d}" for index in range(total)]
    assert sum(1 for claims in claimed_by if claims) >= 2  # the processes really competed
    assert storage.list_runs(status=RunStatus.PENDING) == []


@pytest.mark.timeout(90)
def test_processes_initializing_one_new_file_at_once_migrate_once(
    tmp_path: Path, sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    assert _in_processes(tmp_path, sqlite_path, "initialize", 4) == ["ok"] * 4
    storage = open_sqlite(sqlite_path)
    assert storage.list_runs() == []


@pytest.mark.timeout(90)
def test_processes_creating_one_idempotency_key_create_one_run(
    tmp_path: Path, sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    storage = open_sqlite(sqlite_path)
    results = _in_processes(tmp_path, sqlite_path, "create", 4)
    assert sum(created for _, created in results) == 1
    assert len({run_id for run_id, _ in results}) == 1
    assert len(storage.list_runs()) == 1


@pytest.mark.timeout(60)
def test_two_adapters_on_one_file_never_share_a_claim(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    first, second = open_sqlite(sqlite_path), open_sqlite(sqlite_path)
    for round_number in range(20):
        first.create_run(WorkflowRun(f"r{round_number}", "wf", {}, None, RunStatus.PENDING, 1, 1))
        barrier = threading.Barrier(2, timeout=10)
        winners: list[str | None] = []

        def claim(
            storage: SQLiteStorage, barrier: threading.Barrier, winners: list[str | None]
        ) -> None:
            barrier.wait()
            run = storage.claim_next_run(["wf"])
            winners.append(run.id if run else None)

        threads = [
            threading.Thread(target=claim, args=(s, barrier, winners)) for s in (first, second)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(map(str, winners)) == sorted(["None", f"r{round_number}"])


@pytest.mark.timeout(60)
def test_two_adapters_racing_one_idempotency_key_create_one_run(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    adapters = [open_sqlite(sqlite_path) for _ in range(2)]
    barrier = threading.Barrier(8, timeout=10)
    results: list[tuple[str, bool]] = []

    def create(index: int) -> None:
        barrier.wait()
        run = WorkflowRun(f"r{index}", "wf", {"i": index}, "key", RunStatus.PENDING, 1, 1)
        created = adapters[index % 2].create_run(run)
        results.append((created.run.id, created.created))

    threads = [threading.Thread(target=create, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8
    assert sum(created for _, created in results) == 1
    assert len({run_id for run_id, _ in results}) == 1


def test_everything_survives_closing_and_reopening(
    sqlite_path: Path, open_sqlite: Callable[..., SQLiteStorage]
) -> None:
    first = open_sqlite(sqlite_path)
    first.create_run(WorkflowRun("run_1", "test", {"x": 1}, None, RunStatus.PENDING, 1, 1))
    claimed = first.claim_next_run(["test"])
    assert claimed is not None
    assert claimed.lease_id is not None
    first.save_step_result(StepResult("a", StepStatus.COMPLETED, {"ok": True}, run_id="run_1"))
    first.sleep_run("run_1", claimed.lease_id, 1)
    first.deliver_event("run_1", "e", {"n": 1})
    first.upsert_schedule(WorkflowSchedule("nightly", "test", {"d": 30}, 60.0, None, 1_000))
    first.close()

    second = open_sqlite(sqlite_path)
    stored = second.get_run("run_1")
    assert stored is not None
    assert stored.status is RunStatus.SLEEPING
    assert [row.output for row in second.get_step_results("run_1")] == [{"ok": True}]
    woken = second.claim_next_run(["test"])
    assert woken is not None
    assert woken.id == "run_1"
    assert second.take_event("run_1", "e") is not None
    schedule = second.claim_due_schedule(["test"], 5_000)
    assert schedule is not None
    assert schedule.next_run_at == 1_000
