"""Fixtures for the contention tests (``wait_until`` comes from the chaos harness)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos import ledger
from tests.chaos.harness import wait_until

__all__ = ["wait_until"]


@pytest.fixture(autouse=True)
def _close_ledgers() -> Iterator[None]:
    yield
    ledger.close_all()
