"""Contention at startup: several engines opening one new database file at the same moment.

Deployments start their workers together. Every engine's first call creates
its storage's connections and switches the new file to WAL; the one that
loses that race must wait its turn inside storage, like any other busy wait,
and never surface ``BusyError`` as a ``StorageError`` to the user. Each trial
opens a fresh file from eight engines at once (each with its own adapter, so
its own connections), released together by a barrier; the race is narrow, so
it is repeated.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors import create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

ENGINES = 8
TRIALS = 200
WORKFLOW = create_workflow("started").step("s", lambda ctx: "ran")


def _trial(path: str) -> list[BaseException]:
    barrier = threading.Barrier(ENGINES, timeout=30)
    errors: list[BaseException] = []

    def first_call() -> None:
        storage = SQLiteStorage(path, durability="normal")  # the race is not about fsync
        engine = create_engine(storage=storage, workflows=[WORKFLOW])
        try:
            barrier.wait()
            engine.enqueue(WORKFLOW, None)
        except BaseException as error:  # collected for the assertion
            errors.append(error)
        finally:
            engine.stop()
            storage.close()

    threads = [threading.Thread(target=first_call, name=f"test-engine-{n}") for n in range(ENGINES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.mark.timeout(60)
def test_engines_starting_together_on_a_new_file_see_no_storage_error(tmp_path):
    for trial in range(TRIALS):
        path = str(tmp_path / f"trial-{trial}.db")
        errors = _trial(path)
        assert errors == [], f"trial {trial}: {errors[0]!r} caused by {errors[0].__cause__!r}"
        storage = SQLiteStorage(path, read_only=True)
        try:
            assert len(storage.list_runs(limit=ENGINES + 1)) == ENGINES
        finally:
            storage.close()
