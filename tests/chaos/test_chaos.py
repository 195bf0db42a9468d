"""Chaos: worker processes are SIGKILLed at random moments; nothing is lost or run twice.

Each test runs one session of :mod:`tests.chaos.driver` (short mode here; the
long mode is ``python -m tests.chaos --long``, or these tests with
``REFLOW_CHAOS=long``) and checks the invariants of
:mod:`tests.chaos.invariants`: every run completed, no completed step ran
again, each re-executed step was in flight in a killed process (at most one
extra execution per kill), storage holds exactly the outputs the ledger saw
produced, and the database passes ``integrity_check``.

Each session also has to prove it did damage: kills must have hit steps in
flight, or the test would pass without testing anything.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from tests.chaos import driver
from tests.chaos.driver import ChaosConfig
from tests.chaos.invariants import Findings

LONG = os.environ.get("REFLOW_CHAOS", "").lower() == "long"


def _run(config: ChaosConfig, tmp_path) -> Findings:
    findings = driver.run_session(config, tmp_path / "session")
    print(driver.table([(config, findings)]))  # shown with -s, or on failure
    return findings


def _assert_nothing_lost_or_repeated(config: ChaosConfig, found: Findings) -> None:
    assert found.violations == []
    assert found.runs == found.completed == config.runs
    assert found.duplicates == 0, "a completed step ran again"
    assert found.lost == 0
    assert found.mismatched == 0
    assert found.unexplained == 0
    assert found.errors == {}, "errors reached on_error"
    # The session really did damage: kills interrupted steps, which then ran again.
    assert found.kills["driver"] >= config.kills
    assert found.kills["final"] >= 1
    assert found.kills_in_flight >= 1
    assert found.reexecuted >= found.kills_in_flight


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_random_sigkills_lose_no_run_and_never_rerun_a_completed_step(tmp_path):
    config = driver.SHORT_EXTERNAL
    _assert_nothing_lost_or_repeated(config, _run(config, tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkills_from_inside_storage_writes_lose_nothing(tmp_path):
    config = driver.SHORT_SELF_KILL
    found = _run(config, tmp_path)
    _assert_nothing_lost_or_repeated(config, found)
    assert found.kills["self"] >= config.self_kills, "too few kills inside writes"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_normal_durability_also_survives_process_kills(tmp_path):
    config = dataclasses.replace(
        driver.SHORT_EXTERNAL, name="short: driver SIGKILLs, durability=normal", kills=8,
        runs=40, durability="normal",
    )  # fmt: skip
    _assert_nothing_lost_or_repeated(config, _run(config, tmp_path))


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="long chaos mode: set REFLOW_CHAOS=long")
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "config", [driver.LONG_EXTERNAL, driver.LONG_SELF_KILL], ids=["external", "in-write"]
)
def test_long_mode_loses_nothing_over_hundreds_of_kills(config, tmp_path):
    _assert_nothing_lost_or_repeated(config, _run(config, tmp_path))
