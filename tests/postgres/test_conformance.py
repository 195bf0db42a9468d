"""Every storage conformance case against ``PostgresStorage``, each on a fresh schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reflow_actors.conformance import CASES, Case

pytestmark = [pytest.mark.postgres]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_case(case: Case, make_storage: Callable[..., Any]) -> None:
    storage = make_storage()
    assert case.applies_to(storage), f"PostgresStorage lacks {case.needs}"
    case(storage)
