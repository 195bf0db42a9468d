"""Fixtures for the storage tests: every adapter kind, opened fresh and always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reflow_actors.storage import MemoryStorage, SQLiteStorage, StorageAdapter

AdapterFactory = Callable[[], StorageAdapter]

KINDS: dict[str, Callable[[Path], StorageAdapter]] = {
    "memory": lambda tmp: MemoryStorage(),
    "sqlite-file-full": lambda tmp: SQLiteStorage(tmp / "reflow.db"),
    "sqlite-file-normal": lambda tmp: SQLiteStorage(tmp / "reflow.db", durability="normal"),
    "sqlite-memory": lambda tmp: SQLiteStorage(":memory:"),
}


@pytest.fixture
def opened() -> Iterator[list[StorageAdapter]]:
    """Adapters a test opens; all closed at teardown (close is idempotent)."""
    adapters: list[StorageAdapter] = []
    yield adapters
    for adapter in adapters:
        adapter.close()


@pytest.fixture(params=list(KINDS))
def new_adapter(
    request: pytest.FixtureRequest, tmp_path: Path, opened: list[StorageAdapter]
) -> AdapterFactory:
    """A factory of fresh, initialized adapters of one kind (each in its own file)."""
    counter = iter(range(1_000))

    def make() -> StorageAdapter:
        folder = tmp_path / f"db{next(counter)}"
        folder.mkdir()
        adapter = KINDS[request.param](folder)
        opened.append(adapter)
        adapter.initialize()
        return adapter

    return make


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A database path in a fresh temporary directory."""
    return tmp_path / "reflow.db"


@pytest.fixture
def open_sqlite(opened: list[StorageAdapter]) -> Callable[..., SQLiteStorage]:
    """Open (and later close) a ``SQLiteStorage``; initialize unless ``initialize=False``."""

    def make(path: str | Path, *, initialize: bool = True, **options: object) -> SQLiteStorage:
        storage = SQLiteStorage(path, **options)  # type: ignore[arg-type]
        opened.append(storage)
        if initialize:
            storage.initialize()
        return storage

    return make
