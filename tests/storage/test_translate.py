"""Driver-error translation: the decorator and the ``translated`` proxy for any adapter."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import apsw
import pytest

from reflow_actors.errors import LeaseExpiredError, StorageError
from reflow_actors.records import RunStatus, WorkflowRun
from reflow_actors.storage import (
    MemoryStorage,
    SQLiteStorage,
    StorageAdapter,
    SupportsCancel,
    SupportsClaimBatch,
    SupportsConsumeEvent,
    SupportsProgress,
    SupportsWakeups,
)
from reflow_actors.storage._translate import storage_error, translate_errors, translated

OPTIONAL = {"claim_runs", "save_progress", "cancel_run", "consume_event", "subscribe_wakeups"}


class Delegating:
    """A user adapter that forwards to MemoryStorage and can be told to fail."""

    def __init__(self) -> None:
        self.inner = MemoryStorage()
        self.fail_with: BaseException | None = None

    def __getattr__(self, name: str) -> Any:
        if name in OPTIONAL:
            raise AttributeError(name)  # a minimal adapter: Protocol methods only
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.fail_with is not None:
                raise self.fail_with
            return method(*args, **kwargs)

        return call


class WithCancel(Delegating):
    def cancel_run(self, run_id: str) -> bool:
        raise ValueError("cancel exploded")


def test_decorator_wraps_foreign_errors_naming_the_method() -> None:
    busy = apsw.BusyError("database is locked")

    @translate_errors
    def get_run(run_id: str) -> None:
        raise busy

    with pytest.raises(StorageError) as raised:
        get_run("r")
    assert raised.value.operation == "get_run"
    assert raised.value.__cause__ is busy
    assert raised.value.code == "STORAGE"
    assert str(raised.value) == 'Storage operation "get_run" failed: database is locked'


def test_decorator_passes_reflow_errors_through_unchanged() -> None:
    lost = LeaseExpiredError("r")

    @translate_errors
    def heartbeat_run() -> None:
        raise lost

    with pytest.raises(LeaseExpiredError) as raised:
        heartbeat_run()
    assert raised.value is lost


def test_message_keeps_driver_detail_or_falls_back_to_the_type() -> None:
    assert str(storage_error("save_step_result", OSError("disk I/O error"))) == (
        'Storage operation "save_step_result" failed: disk I/O error'
    )
    assert str(storage_error("close", RuntimeError())) == (
        'Storage operation "close" failed: RuntimeError'
    )
    assert str(StorageError("close")) == 'Storage operation "close" failed'


def test_storage_error_survives_pickling_with_its_operation() -> None:
    error = storage_error("claim_next_run", apsw.BusyError("locked"))
    copy = pickle.loads(pickle.dumps(error))
    assert copy.operation == "claim_next_run"
    assert str(copy) == str(error)


def test_proxy_translates_every_method_and_keeps_results() -> None:
    user = Delegating()
    proxy = translated(user)
    created = proxy.create_run(WorkflowRun("run-1", "wf", {}, None, RunStatus.PENDING, 1, 1))
    assert created.created
    stored = proxy.get_run("run-1")
    assert stored is not None
    assert (stored.id, stored.status) == ("run-1", RunStatus.PENDING)

    user.fail_with = KeyError("boom")
    with pytest.raises(StorageError) as raised:
        proxy.get_run("run-1")
    assert raised.value.operation == "get_run"
    assert isinstance(raised.value.__cause__, KeyError)

    user.fail_with = RuntimeError("connection already closed")
    with pytest.raises(StorageError, match="connection already closed") as closed:
        proxy.close()
    assert closed.value.operation == "close"


def test_proxy_passes_reflow_errors_through() -> None:
    user = Delegating()
    lost = LeaseExpiredError("r")
    user.fail_with = lost
    with pytest.raises(LeaseExpiredError) as raised:
        translated(user).heartbeat_run("r", "l")
    assert raised.value is lost


def test_proxy_has_optional_methods_only_when_the_adapter_does() -> None:
    minimal = translated(Delegating())
    assert isinstance(minimal, StorageAdapter)
    for name, protocol in (
        ("claim_runs", SupportsClaimBatch),
        ("save_progress", SupportsProgress),
        ("cancel_run", SupportsCancel),
        ("consume_event", SupportsConsumeEvent),
        ("subscribe_wakeups", SupportsWakeups),
    ):
        assert not hasattr(minimal, name)
        assert not isinstance(minimal, protocol)

    partial = translated(WithCancel())
    assert isinstance(partial, SupportsCancel)
    assert not hasattr(partial, "claim_runs")
    with pytest.raises(StorageError) as raised:
        partial.cancel_run("r")
    assert raised.value.operation == "cancel_run"
    assert partial.cancel_run.__doc__


def test_proxy_of_a_full_adapter_forwards_the_optional_methods(tmp_path: Any) -> None:
    class Full:
        def __init__(self) -> None:
            self.inner = MemoryStorage()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def subscribe_wakeups(self, callback: Callable[[], None]) -> Callable[[], None]:
            callback()
            raise OSError("no wake-ups today")

    proxy = translated(Full())
    for protocol in (
        SupportsClaimBatch,
        SupportsProgress,
        SupportsCancel,
        SupportsConsumeEvent,
        SupportsWakeups,
    ):
        assert isinstance(proxy, protocol)
    assert proxy.claim_runs(["wf"], 3) == []  # type: ignore[attr-defined]
    assert proxy.consume_event("r", "l", "e", list) is None  # type: ignore[attr-defined]
    called: list[bool] = []
    with pytest.raises(StorageError) as raised:
        proxy.subscribe_wakeups(lambda: called.append(True))  # type: ignore[attr-defined]
    assert raised.value.operation == "subscribe_wakeups"
    assert called == [True]
    assert "translated(" in repr(proxy)


def test_our_adapters_are_not_wrapped_again(tmp_path: Any) -> None:
    memory = MemoryStorage()
    sqlite = SQLiteStorage(tmp_path / "x.db")
    try:
        assert translated(memory) is memory
        assert translated(sqlite) is sqlite
        proxy = translated(Delegating())
        assert translated(proxy) is proxy
    finally:
        memory.close()
        sqlite.close()
