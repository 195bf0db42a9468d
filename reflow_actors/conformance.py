"""The storage contract as runnable cases, for checking any ``StorageAdapter``.

:data:`CASES` is a list of :class:`Case`. Each case takes a fresh, initialized,
empty adapter, exercises one rule of the contract (the reflow-ts conformance
cases, plus fencing, races, pagination, row identity, value fidelity and the
optional ``claim_runs``, ``save_progress``, ``cancel_run`` and ``consume_event``
methods) and raises ``AssertionError`` saying what differed. Cases import no test framework and do
not rely on ``assert`` statements, so they also check under ``python -O``.

Run them against your own adapter on the system clock (wake and stale times
are relative to real time)::

    from reflow_actors.conformance import CASES

    def check_adapter(make_adapter) -> list[str]:
        failures = []
        for case in CASES:
            adapter = make_adapter()        # a fresh, empty adapter per case
            adapter.initialize()
            try:
                case(adapter)
            except AssertionError as error:
                failures.append(f"{case.name}: {error}")
            finally:
                adapter.close()
        return failures

With pytest: ``@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)``.
A case whose ``needs`` names an optional method your adapter lacks passes at once.
``close()`` is called on an adapter a case may already have closed; make it idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reflow_actors.storage._conformance import (
    claims,
    fencing,
    lifecycle,
    optional,
    runs,
    schedules,
    steps,
    suspend,
    values,
)
from reflow_actors.storage.base import StorageAdapter

__all__ = ["CASES", "Case"]


@dataclass(frozen=True)
class Case:
    """One named rule of the storage contract, callable as ``case(adapter)``.

    ``needs`` names the optional method the case exercises (``"claim_runs"``,
    ``"save_progress"``, ``"cancel_run"``, ``"consume_event"``); an adapter
    without it passes the case without running it.
    """

    name: str
    run: Callable[[StorageAdapter], None]
    needs: str | None = None

    def applies_to(self, adapter: StorageAdapter) -> bool:
        """Tell whether ``adapter`` has what this case exercises."""
        return self.needs is None or callable(getattr(adapter, self.needs, None))

    def __call__(self, adapter: StorageAdapter) -> None:
        """Run the case on a fresh, initialized, empty ``adapter``."""
        if self.applies_to(adapter):
            self.run(adapter)


def _collect() -> list[Case]:
    modules = (runs, claims, steps, suspend, schedules, fencing, values, optional, lifecycle)
    collected = [
        Case(entry.name, entry.run, entry.needs)
        for module in modules
        for entry in module.cases.entries
    ]
    names = [case.name for case in collected]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RuntimeError(f"conformance case names must be unique: {duplicates}")
    return collected


CASES: list[Case] = _collect()
"""Every case of the storage contract, in a stable order."""
