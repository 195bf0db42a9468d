"""Lifecycle: ``initialize`` is idempotent, ``close`` ends the adapter's life."""

from __future__ import annotations

from reflow_actors.errors import StorageError
from reflow_actors.storage._conformance._support import (
    Registry,
    expect_equal,
    expect_raises,
    make_run,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = ["cases"]

cases = Registry()


@cases.case("initialize can be called again without losing data")
def _initialize_again(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.initialize()
    adapter.initialize()
    stored = adapter.get_run("run_1")
    expect_equal(stored.id if stored else None, "run_1", "run after initialize")


@cases.case("after close every call raises StorageError")
def _closed(adapter: StorageAdapter) -> None:
    adapter.create_run(make_run())
    adapter.close()
    expect_raises(StorageError, lambda: adapter.get_run("run_1"), "get_run after close")
    expect_raises(StorageError, lambda: adapter.create_run(make_run("b")), "create_run after close")
    expect_raises(StorageError, lambda: adapter.claim_next_run(["test"]), "claim after close")
