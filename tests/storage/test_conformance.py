"""Every conformance case against every adapter kind (memory, SQLite full/normal/:memory:)."""

from __future__ import annotations

import pytest

from reflow_actors.conformance import CASES, Case
from tests.storage.conftest import AdapterFactory


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_case(case: Case, new_adapter: AdapterFactory) -> None:
    case(new_adapter())


def test_case_names_are_unique_and_descriptive() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 47 + 40
    assert all(len(name.split()) >= 3 for name in names)


def test_cases_needing_an_optional_method_pass_without_it() -> None:
    class Minimal:
        pass

    needy = [case for case in CASES if case.needs is not None]
    assert {case.needs for case in needy} == {
        "claim_runs",
        "save_progress",
        "cancel_run",
        "consume_event",
    }
    for case in needy:
        assert not case.applies_to(Minimal())  # type: ignore[arg-type]
        case(Minimal())  # type: ignore[arg-type]  # returns without touching it
