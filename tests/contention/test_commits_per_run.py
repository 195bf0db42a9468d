"""Write load per run: under contention every write is a turn at SQLite's one write lock.

The contract says a step's attempt marker rides on writes the engine makes
anyway (the claim, the previous step's result), "so it costs no extra
commit". So a run of n sequential steps executed by one ``tick()`` makes n
progress writes after its claim: one per step (its result with the next
step's marker; the last with the run's final status). The storage is wrapped
in a delegating adapter that logs every ``save_progress`` call. (This caught
the marker being written a second time before each step, now fixed.)
"""

from __future__ import annotations

import pytest

from reflow_actors import create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage
from tests.chaos import ledger
from tests.chaos.storage import ChaosStorage


def _steps(count: int):
    workflow = create_workflow(f"steps{count}")
    for index in range(count):
        workflow = workflow.step(f"s{index}", lambda ctx, index=index: index)
    return workflow


@pytest.mark.timeout(20)
@pytest.mark.parametrize("count", [1, 3, 5])
def test_a_run_of_n_steps_makes_one_progress_write_per_step(tmp_path, count):
    log = str(tmp_path / "writes.jsonl")
    ledger.create(log)
    sqlite = SQLiteStorage(tmp_path / "x.db")
    workflow = _steps(count)
    engine = create_engine(storage=ChaosStorage(sqlite, record=log), workflows=[workflow])
    try:
        run = engine.enqueue(workflow, None)
        assert engine.tick() == 1
        info = engine.get_run_status(run.id)
        assert info is not None
        assert info.run.status == "completed"
        assert [(s.status, s.attempts) for s in info.steps] == [("completed", 1)] * count
        entries, _ = ledger.read(log)
        saves = [e.step for e in entries if e.extra.get("op") == "save_progress"]
        expected = [f"s{i},s{i + 1}" for i in range(count - 1)] + [f"s{count - 1}"]
        assert saves == expected
    finally:
        engine.stop()
        sqlite.close()
