"""Contention: 4 processes x N runs on one SQLite file, concurrency 8 each, 2 s leases.

Short mode here (4 x 250); the long mode (4 x 2,500) is ``python -m
tests.chaos --long``, or this module with ``REFLOW_CHAOS=long``. The code path
is the same: every process enqueues its runs while all four claim and execute.
Nothing crashes, so every run must complete exactly once; a step may run
twice only when its process lost the lease while the step ran (an overloaded
machine can delay a renewal past the lease: the contract allows that
re-execution, and the workers log every refused renewal or save to prove it).
No user may see a ``StorageError``/``BusyError``: waiting
for another process's write lock is storage's job (bounded retries inside
``SQLiteStorage``). Claim fairness is reported; each process must get work.
"""

from __future__ import annotations

import os

import pytest

from tests.contention import driver
from tests.contention.driver import ContentionConfig

LONG = os.environ.get("REFLOW_CHAOS", "").lower() == "long"


def _check(config: ContentionConfig, tmp_path) -> None:
    found = driver.run_contention(config, tmp_path / "session")
    print(driver.table([(config, found)]))  # shown with -s, or on failure
    total = config.processes * config.runs
    assert found.enqueued == total, f"enqueue failed: {dict(found.errors)}"
    assert found.completed == total
    assert found.lost == 0
    assert found.double_completed == 0
    # A step may run twice only if its first process lost the lease while it ran.
    assert found.unexplained_duplicates == 0
    assert found.storage_errors == 0
    assert dict(found.errors) == {}
    assert found.exit_codes == [0] * config.processes
    assert found.tracebacks == 0
    assert len(found.per_process) == config.processes, "a process never got to run anything"
    assert sum(found.per_process.values()) == total


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_four_processes_complete_every_run_exactly_once_with_no_storage_errors(tmp_path):
    _check(driver.SHORT, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="long contention mode: set REFLOW_CHAOS=long")
@pytest.mark.timeout(1800)
def test_long_mode_four_processes_by_2500_runs(tmp_path):
    _check(driver.LONG, tmp_path)
