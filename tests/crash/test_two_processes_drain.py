"""Two engine processes draining one SQLite file: every run completes exactly once.

Two worker processes (concurrency 4 each) poll the same database while the
test enqueues 200 runs of a three-step workflow. Nobody crashes, so there is
no excuse for any duplicate: each step of each run has exactly one ledger
entry and one attempt, every run ends completed and is completed only once,
and both processes did some of the work.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.crash import flows
from tests.crash.conftest import wait_until

RUNS = 200


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_two_processes_complete_every_run_exactly_once(lab):
    engine = lab.engine()
    workers = [lab.spawn("--concurrency", "4") for _ in range(2)]
    run_ids = {engine.enqueue("triple", {"n": n}).id for n in range(RUNS)}
    assert len(run_ids) == RUNS

    def all_completed() -> bool:
        return len(engine.list_runs(status="completed", limit=RUNS + 1)) == RUNS

    wait_until(all_completed, timeout=60, interval=0.05, what=f"{RUNS} runs to complete")
    for worker in workers:
        assert worker.stop() == 0, worker.stderr()

    entries = lab.entries()
    assert [e for e in entries if e.phase == "error"] == []
    for phase in ("start", "done"):
        per_step = Counter((e.run_id, e.step) for e in entries if e.phase == phase)
        assert set(per_step) == {(r, s) for r in run_ids for s in flows.TRIPLE}, phase
        duplicated = {key: count for key, count in per_step.items() if count != 1}
        assert duplicated == {}, f"steps that ran more than once ({phase})"
    # No run was completed twice. (Not "exactly once": stopping a worker may interrupt
    # a pending on_run_complete hook, and see test_notifications_after_the_final_write.)
    completions = Counter(e.run_id for e in entries if e.phase == "run_complete")
    assert set(completions) <= run_ids
    assert max(completions.values()) == 1

    pids = {e.pid for e in entries if e.phase == "start"}
    assert pids == {worker.pid for worker in workers}, "both processes should have done work"

    done = {(e.run_id, e.step): e.output for e in entries if e.phase == "done"}
    for run_id in run_ids:
        info = engine.get_run_status(run_id)
        assert info is not None
        assert [(s.name, s.status, s.attempts) for s in info.steps] == [
            (name, "completed", 1) for name in flows.TRIPLE
        ]
        for step in info.steps:
            assert step.output == done[(run_id, step.name)]
