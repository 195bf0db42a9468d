"""The chaos invariant checker catches what it claims to catch.

A chaos session that passes proves something only if the checker would have
failed it. These tests hand the checker a real SQLite database and a ledger
describing one five-step run, first consistent, then with one planted fault
each: a completed step run again, a re-execution no kill (or lost lease)
explains, two extra executions charged to one kill, a stored output nobody
produced, a lost run, a completion notified twice.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from reflow_actors.records import RunStatus, StepResult, StepStatus, WorkflowRun
from reflow_actors.storage import SQLiteStorage
from tests.chaos import flows, ledger
from tests.chaos.invariants import Kill, check

WORKER_PID = 1001
KILLED_PID = 1002


class World:
    """One completed ``chaos5`` run in storage, and the ledger lines that produced it."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = str(tmp_path / "x.db")
        self.ledger = str(tmp_path / "ledger.jsonl")
        self.errors = str(tmp_path / "errors.jsonl")
        ledger.create(self.ledger)
        ledger.create(self.errors)
        self.run_id = str(uuid.uuid4())
        self.lines: list[dict] = []
        self.outputs: dict[str, dict] = {}
        previous = None
        for name in flows.STEPS:
            output = {
                "step": name,
                "pid": WORKER_PID,
                "attempt": 1,
                "token": uuid.uuid4().hex,
                "prev_token": previous,
            }
            previous = output["token"]
            self.outputs[name] = output
            self.lines.append(self.line(name, WORKER_PID, 1, "start"))
            self.lines.append(self.line(name, WORKER_PID, 1, "done", output))

    def line(self, step: str, pid: int, attempt: int, phase: str, output=None) -> dict:
        line = {"run": self.run_id, "step": step, "attempt": attempt, "pid": pid, "phase": phase}
        if output is not None:
            line["output"] = output
        return line

    def check(self, kills: list[Kill] = (), *, stored: dict | None = None, enqueued=None):
        with open(self.ledger, "w") as file:
            file.writelines(json.dumps(line) + "\n" for line in self.lines)
        for suffix in ("", "-wal", "-shm"):  # a fresh database for every check
            Path(self.db + suffix).unlink(missing_ok=True)
        storage = SQLiteStorage(self.db)
        try:
            storage.initialize()
            run = WorkflowRun(self.run_id, flows.WORKFLOW, {}, None, RunStatus.COMPLETED, 1, 1)
            storage.create_run(run)
            for name, output in (stored or self.outputs).items():
                attempts = output["attempt"]
                row = StepResult(name, StepStatus.COMPLETED, output, None, attempts, run_id=run.id)
                storage.save_step_result(row)
        finally:
            storage.close()
        ids = [self.run_id] if enqueued is None else enqueued
        return check(self.db, self.ledger, self.errors, ids, list(kills))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_consistent_session_has_no_violations(world):
    found = world.check()
    assert found.violations == []
    assert (found.completed, found.duplicates, found.reexecuted, found.lost) == (1, 0, 0, 0)


def test_a_step_started_after_its_committed_output_is_a_duplicate(world):
    world.lines.append(world.line("s2", WORKER_PID, 2, "start"))
    found = world.check()
    assert found.duplicates == 1
    assert any("ran again" in violation for violation in found.violations)


def test_a_re_execution_in_a_killed_process_is_allowed_once(world):
    world.lines.insert(2, world.line("s2", KILLED_PID, 1, "start"))
    world.outputs["s2"]["attempt"] = 2
    world.lines[3]["attempt"] = world.lines[4]["attempt"] = 2  # the committed start and done
    found = world.check([Kill(KILLED_PID, "driver")])
    assert found.violations == []
    assert (found.reexecuted, found.kills_in_flight) == (1, 1)


def test_a_re_execution_no_kill_explains_is_reported(world):
    world.lines.insert(2, world.line("s2", KILLED_PID, 1, "start"))
    world.outputs["s2"]["attempt"] = 2
    world.lines[3]["attempt"] = world.lines[4]["attempt"] = 2
    found = world.check([])
    assert found.unexplained == 1
    assert any("never killed" in violation for violation in found.violations)


def test_a_re_execution_after_a_refused_lease_write_is_explained(world):
    world.lines.insert(2, world.line("s2", KILLED_PID, 1, "start"))
    world.outputs["s2"]["attempt"] = 2
    world.lines[3]["attempt"] = world.lines[4]["attempt"] = 2
    refusal = world.line("*", KILLED_PID, 0, "write")
    refusal["extra"] = {"op": "heartbeat_run", "ok": False}
    world.lines.append(refusal)
    found = world.check([])
    assert found.violations == []
    assert (found.reexecuted, found.after_lost_lease, found.unexplained) == (1, 1, 0)


def test_two_extra_executions_charged_to_one_kill_are_reported(world):
    world.lines.insert(2, world.line("s2", KILLED_PID, 1, "start"))
    world.lines.insert(3, world.line("s2", KILLED_PID, 2, "start"))
    world.outputs["s2"]["attempt"] = 3
    world.lines[4]["attempt"] = world.lines[5]["attempt"] = 3
    found = world.check([Kill(KILLED_PID, "driver")])
    assert any("2 extra executions" in violation for violation in found.violations)


def test_a_stored_output_that_no_execution_produced_is_a_mismatch(world):
    stored = {name: dict(output) for name, output in world.outputs.items()}
    stored["s4"]["token"] = uuid.uuid4().hex
    found = world.check(stored=stored)
    assert found.mismatched == 1
    assert any("prev was not the persisted output" in violation for violation in found.violations)


def test_a_run_that_never_completed_is_lost(world):
    found = world.check(enqueued=[world.run_id, str(uuid.uuid4())])
    assert found.lost == 1
    assert found.completed == 1


def test_a_run_notified_complete_twice_is_reported(world):
    world.lines.append(world.line("*", WORKER_PID, 0, "complete"))
    assert world.check().violations == []
    world.lines.append(world.line("*", KILLED_PID, 0, "complete"))
    found = world.check([Kill(KILLED_PID, "driver")])
    assert any("notified complete 2 times" in violation for violation in found.violations)
