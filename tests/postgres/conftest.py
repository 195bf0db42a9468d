"""Fixtures for the PostgreSQL tests: a server from the environment, a fresh schema per test.

``REFLOW_TEST_POSTGRES_DSN`` names the server (``eval "$(bash .ci/postgres.sh)"``
starts a throwaway one and exports it). Without it the tests here are skipped
with that hint, except under CI (``CI`` set to a true value), where a missing
server is a failure: CI must never pass by skipping them.

Every test gets its own schema (``t_<random>``), dropped afterwards, and every
adapter a test opens is closed before that.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests import support

DSN_VARIABLE = "REFLOW_TEST_POSTGRES_DSN"
HINT = 'start one with: eval "$(bash .ci/postgres.sh)"'

T = TypeVar("T")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


_DRIVER = importlib.util.find_spec("psycopg") is not None
if not _DRIVER and not _in_ci():
    # Without the `postgres` extra these modules cannot even be imported; in CI
    # the import errors are left to fail the run.
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header() -> str | None:
    """Say why the PostgreSQL tests will not run, at the top of the output."""
    if not _DRIVER and not _in_ci():
        return "postgres tests: not collected (psycopg missing: pip install -e '.[postgres]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``postgres`` tests when no server is configured locally (never in CI)."""
    del config
    if os.environ.get(DSN_VARIABLE) or _in_ci():
        return
    skip = pytest.mark.skip(
        reason=f"no PostgreSQL server configured: {DSN_VARIABLE} is unset; {HINT}"
    )
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def dsn() -> str:
    """The test server's connection string (fails in CI when there is none)."""
    value = os.environ.get(DSN_VARIABLE)
    if not value:
        pytest.fail(f"CI is set but {DSN_VARIABLE} is not: .ci/run must start PostgreSQL; {HINT}")
    return value


def admin(dsn: str) -> Any:
    """A short-lived autocommit connection for test bookkeeping (not the adapter's)."""
    import psycopg  # noqa: PLC0415 - importable only with the `postgres` extra

    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture
def schema(dsn: str) -> Iterator[str]:
    """A fresh schema name for this test; the schema is dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    with admin(dsn) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def make_storage(dsn: str, schema: str) -> Iterator[Callable[..., Any]]:
    """Open a ``PostgresStorage`` on the test's schema (initialized unless told not to).

    Every adapter opened through it is closed at teardown, before the schema is dropped.
    """
    from reflow_actors.storage.postgres import PostgresStorage  # noqa: PLC0415 - see admin()

    opened: list[PostgresStorage] = []

    def make(*, initialize: bool = True, **options: Any) -> PostgresStorage:
        options.setdefault("schema", schema)
        storage = PostgresStorage(dsn, **options)
        opened.append(storage)
        if initialize:
            storage.initialize()
        return storage

    yield make
    for storage in opened:
        storage.close()


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, **options: Any) -> T:
    """:func:`tests.support.wait_until` with this package's longer default deadline."""
    return support.wait_until(predicate, timeout, **options)
