"""``PostgresStorage`` specifics: construction, schema and migrations, errors, values, time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import psycopg
import pytest

from reflow_actors import VirtualClock
from reflow_actors.codec import encode
from reflow_actors.errors import ConfigError, StorageError
from reflow_actors.storage.base import (
    StorageAdapter,
    SupportsCancel,
    SupportsClaimBatch,
    SupportsConsumeEvent,
    SupportsProgress,
    SupportsWakeups,
)
from reflow_actors.storage.postgres import PostgresStorage
from tests.postgres.conftest import admin
from tests.postgres.helpers import Make, claim, make_run, parallel

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def make(make_storage: Make) -> Make:
    return make_storage


# -- construction ----------------------------------------------------------------------


def test_it_implements_the_protocol_and_every_optional_fast_path(dsn: str) -> None:
    storage = PostgresStorage(dsn)  # nothing is opened until first use
    for protocol in (
        StorageAdapter,
        SupportsClaimBatch,
        SupportsProgress,
        SupportsCancel,
        SupportsConsumeEvent,
        SupportsWakeups,
    ):
        assert isinstance(storage, protocol), protocol.__name__
    assert storage.schema == "reflow"
    assert storage.channel == "reflow_wakeup"
    assert "password" not in repr(PostgresStorage("postgresql://u:secret@db.example/x"))
    storage.close()


@pytest.mark.parametrize("schema", ["Reflow", "1st", "a-b", 'x"; DROP TABLE y; --', "x" * 41, ""])
def test_schema_names_must_be_plain_identifiers(dsn: str, schema: str) -> None:
    with pytest.raises(ConfigError, match="schema"):
        PostgresStorage(dsn, schema=schema)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": True}, "pool_size"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"connect_timeout": float("inf")}, "connect_timeout"),
    ],
)
def test_bad_options_are_config_errors(dsn: str, options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PostgresStorage(dsn, **options)


def test_a_malformed_dsn_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dsn"):
        PostgresStorage("host=localhost port")


# -- schema and migrations -------------------------------------------------------------


@pytest.mark.timeout(60)
def test_several_adapters_initialize_the_same_new_schema_at_once(make: Make) -> None:
    storages = [make(initialize=False) for _ in range(8)]
    parallel(len(storages), lambda index: storages[index].initialize())
    storages[0].create_run(make_run())
    stored = storages[7].get_run("run_1")
    assert stored is not None
    assert stored.id == "run_1"


def test_initialize_records_the_schema_version_and_is_idempotent(
    make: Make, dsn: str, schema: str
) -> None:
    storage = make()
    storage.create_run(make_run())
    storage.initialize()
    with admin(dsn) as connection:
        version = connection.execute(f'SELECT version FROM "{schema}".reflow_schema').fetchone()
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        ).fetchall()
    assert version == (1,)
    assert [name for (name,) in tables] == [
        "reflow_schema",
        "workflow_events",
        "workflow_runs",
        "workflow_schedules",
        "workflow_steps",
    ]
    assert storage.get_run("run_1") is not None


def test_a_schema_newer_than_the_code_is_refused_untouched(
    make: Make, dsn: str, schema: str
) -> None:
    make().create_run(make_run())
    with admin(dsn) as connection:
        connection.execute(f'UPDATE "{schema}".reflow_schema SET version = 99')
    newer = make(initialize=False)
    with pytest.raises(StorageError, match="version 99") as raised:
        newer.initialize()
    assert raised.value.operation == "initialize"
    assert newer.get_run("run_1") is not None


def test_schemas_keep_deployments_apart(make: Make, dsn: str, schema: str) -> None:
    first = make()
    other_schema = f"{schema}_b"
    try:
        second = make(schema=other_schema)
        first.create_run(make_run("only-in-first"))
        assert second.get_run("only-in-first") is None
        assert second.claim_next_run(["test"]) is None
    finally:
        with admin(dsn) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{other_schema}" CASCADE')


# -- errors ----------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_an_unreachable_server_is_a_storage_error_with_the_driver_cause() -> None:
    storage = PostgresStorage("postgresql://reflow@127.0.0.1:9/none", connect_timeout=2)
    try:
        with pytest.raises(StorageError) as raised:
            storage.initialize()
        assert raised.value.operation == "initialize"
        assert isinstance(raised.value.__cause__, psycopg.Error)
    finally:
        storage.close()


def test_a_driver_error_names_the_operation_and_keeps_the_cause(
    make: Make, dsn: str, schema: str
) -> None:
    storage = make()
    with admin(dsn) as connection:
        connection.execute(f'DROP TABLE "{schema}".workflow_runs CASCADE')
    with pytest.raises(StorageError, match="workflow_runs") as raised:
        storage.get_run("run_1")
    assert raised.value.operation == "get_run"
    assert isinstance(raised.value.__cause__, psycopg.errors.UndefinedTable)


def test_a_duplicate_run_id_is_a_storage_error(make: Make) -> None:
    storage = make()
    storage.create_run(make_run())
    with pytest.raises(StorageError, match="already exists"):
        storage.create_run(make_run(input={"other": True}))


def test_after_close_every_method_raises_and_close_is_idempotent(make: Make) -> None:
    storage = make()
    storage.subscribe_wakeups(lambda: None)
    storage.close()
    storage.close()
    for call in (
        storage.initialize,
        lambda: storage.get_run("x"),
        lambda: storage.claim_runs(["test"], 5),
        storage.list_schedules,
        lambda: storage.subscribe_wakeups(lambda: None),
    ):
        with pytest.raises(StorageError, match="closed"):
            call()
    assert not [t for t in threading.enumerate() if t.name.startswith("reflow-pg-listen")]


def test_transient_transaction_failures_are_retried_a_bounded_number_of_times(
    make: Make,
) -> None:
    storage = make()
    calls: list[int] = []

    def flaky(failures: int) -> Callable[[Any], str]:
        def work(connection: Any) -> str:
            calls.append(1)
            if len(calls) <= failures:
                raise psycopg.errors.DeadlockDetected("deadlock detected")
            return "done"

        return work

    assert storage._run("probe", flaky(2)) == "done"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(psycopg.errors.DeadlockDetected):
        storage._run("probe", flaky(100))
    assert len(calls) == 5  # an explicit stop: never retried for ever


# -- values, order and time ------------------------------------------------------------


def test_values_are_stored_as_the_exact_codec_text(make: Make, dsn: str, schema: str) -> None:
    storage = make()
    value = {
        "b": 1,
        "a": [2.5, None],
        "nul": "a\x00b",
        "at": datetime(2026, 1, 2, tzinfo=timezone.utc),
    }
    storage.create_run(make_run(input=value))
    with admin(dsn) as connection:
        (text,) = connection.execute(
            f'SELECT input FROM "{schema}".workflow_runs WHERE id = %s', ("run_1",)
        ).fetchone()
    assert text == encode(value, "input")
    stored = storage.get_run("run_1")
    assert stored is not None
    assert stored.input == value
    assert list(stored.input) == ["b", "a", "nul", "at"]  # key order survives (jsonb would not)


def test_timestamps_come_from_the_adapters_clock_not_the_servers(make: Make) -> None:
    clock = VirtualClock(datetime(2031, 5, 1, tzinfo=timezone.utc))
    storage = make(clock=clock)
    now = clock.now_ms()
    lease = claim(storage)
    claimed = storage.get_run("run_1")
    assert claimed is not None
    assert claimed.updated_at == now
    assert storage.sleep_run("run_1", lease, now + 60_000)
    assert storage.claim_next_run(["test"]) is None
    clock.advance(59.999)
    assert storage.claim_next_run(["test"]) is None
    clock.advance(0.001)
    woken = storage.claim_next_run(["test"])
    assert woken is not None
    assert woken.updated_at == now + 60_000
