"""Registering durable schedules at the engine level (reflow-ts SC-1, SC-2, SC-8, SC-9, SC-11).

``engine.schedule(...)`` validates the recurrence, then the workflow, then the
input, and stores nothing when any is wrong; computes the first occurrence on
the engine's clock; keys a schedule by a stable hash that ignores dict order
and is the same in every process; keeps the cadence when an unchanged
schedule is registered again and resets it when the recurrence changes. Cron
parsing itself is covered by tests/test_cron.py; here only its engine use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reflow_actors import create_workflow
from reflow_actors.errors import ConfigError, InputValidationError, WorkflowNotFoundError
from tests.durable.conftest import HOUR, START_MS, Durable

REPO = Path(__file__).resolve().parents[2]


def _older_than(value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("older_than_days"), int):
        raise ValueError("older_than_days must be an int")
    return value


CLEANUP = create_workflow("cleanup", input=_older_than).step("purge", lambda ctx: ctx.input)
REPORT = create_workflow("report").step("send", lambda ctx: "sent")


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@pytest.mark.timeout(10)
def test_registration_checks_recurrence_then_workflow_then_input_and_stores_nothing(
    durable: Durable,
) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    bad_input = {"older_than_days": "soon"}
    with pytest.raises(ConfigError):
        engine.schedule("nope", bad_input, every=0)
    with pytest.raises(WorkflowNotFoundError):
        engine.schedule("nope", bad_input, every="1h")
    with pytest.raises(InputValidationError) as refused:
        engine.schedule(CLEANUP, bad_input, every="1h")
    assert "older_than_days must be an int" in refused.value.issues[0]
    assert engine.list_schedules() == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "recurrence",
    [
        {"every": 0},
        {"every": -1},
        {"every": "soon"},
        {"every": True},
        {"every": "1h", "cron": "0 * * * *"},
        {},
        {"cron": "not a cron"},
        {"cron": "99 * * * *"},
        {"cron": "0 0 30 2 *"},
        {"cron": 5},
    ],
    ids=repr,
)
def test_a_bad_or_impossible_recurrence_is_refused_at_registration(
    durable: Durable, recurrence: dict[str, Any]
) -> None:
    engine = durable.engine(durable.memory(), [REPORT])
    with pytest.raises(ConfigError):
        engine.schedule(REPORT, None, **recurrence)
    assert engine.list_schedules() == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize("every", ["1h", 3600, 3600.0, timedelta(hours=1), "60m"])
def test_an_interval_schedule_first_fires_one_interval_after_registration(
    durable: Durable, every: Any
) -> None:
    engine = durable.engine(durable.memory(), [REPORT])
    key = engine.schedule(REPORT, None, every=every)
    [stored] = engine.list_schedules()
    assert (stored.key, stored.workflow, stored.input) == (key, "report", None)
    assert (stored.every, stored.cron) == (3600, None)
    assert stored.next_run_at == START_MS + 3_600_000


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("cron", "stored_as", "first"),
    [
        (" @daily ", "@daily", datetime(2026, 3, 11, tzinfo=timezone.utc)),
        ("0 8 * * *", "0 8 * * *", datetime(2026, 3, 11, 8, tzinfo=timezone.utc)),
        ("*/15 * * * *", "*/15 * * * *", datetime(2026, 3, 10, 8, 15, tzinfo=timezone.utc)),
        ("0 9 * * 1-5", "0 9 * * 1-5", datetime(2026, 3, 10, 9, tzinfo=timezone.utc)),
    ],
)
def test_a_cron_schedule_first_fires_at_the_next_matching_minute_after_now(
    durable: Durable, cron: str, stored_as: str, first: datetime
) -> None:
    engine = durable.engine(durable.memory(), [REPORT])  # now: Tue 2026-03-10 08:00 UTC
    engine.schedule(REPORT, None, cron=cron)
    [stored] = engine.list_schedules()
    assert (stored.cron, stored.every) == (stored_as, None)
    assert stored.next_run_at == _ms(first)


@pytest.mark.timeout(10)
def test_the_default_key_ignores_dict_order_and_tells_inputs_and_cadences_apart(
    durable: Durable,
) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    one = {"older_than_days": 30, "scope": {"a": 1, "b": [1, 2]}}
    reordered = {"scope": {"b": [1, 2], "a": 1}, "older_than_days": 30}
    key = engine.schedule(CLEANUP, one, every="1h")
    assert engine.schedule("cleanup", reordered, every="1h") == key
    assert len(engine.list_schedules()) == 1

    others = {
        engine.schedule(CLEANUP, {**one, "older_than_days": 90}, every="1h"),
        engine.schedule(CLEANUP, {**one, "scope": {"a": 1, "b": [2, 1]}}, every="1h"),
        engine.schedule(CLEANUP, {**one, "scope": {"a": 2, "b": [1, 2]}}, every="1h"),
        engine.schedule(CLEANUP, one, every="2h"),
        engine.schedule(CLEANUP, one, cron="0 * * * *"),
    }
    assert key not in others
    assert len(others) == 5
    assert [s.key for s in engine.list_schedules()] == sorted([key, *others])


@pytest.mark.timeout(20)
def test_the_default_key_is_the_same_in_another_process(durable: Durable) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    value = {"older_than_days": 7, "tags": ["x", "y"], "nested": {"z": None, "a": 1.5}}
    key = engine.schedule(CLEANUP, value, cron="0 3 * * *")
    script = (
        "import json, sys\n"
        "from reflow_actors import create_engine, create_workflow\n"
        "from reflow_actors.storage import MemoryStorage\n"
        "cleanup = create_workflow('cleanup').step('purge', lambda ctx: None)\n"
        "storage = MemoryStorage()\n"
        "engine = create_engine(storage=storage, workflows=[cleanup])\n"
        "print(engine.schedule(cleanup, json.loads(sys.argv[1]), cron='0 3 * * *'))\n"
        "storage.close()\n"
    )
    reordered = {"nested": {"a": 1.5, "z": None}, "tags": ["x", "y"], "older_than_days": 7}
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(reordered)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == key


@pytest.mark.timeout(10)
def test_an_explicit_key_shared_by_two_engines_is_one_schedule_last_writer_wins(
    durable: Durable,
) -> None:
    storage = durable.memory()
    first = durable.engine(storage, [CLEANUP])
    second = durable.engine(storage, [CLEANUP])
    assert first.schedule(CLEANUP, {"older_than_days": 30}, every="1h", key="nightly") == "nightly"
    assert second.schedule(CLEANUP, {"older_than_days": 90}, every="1h", key="nightly") == "nightly"
    [stored] = first.list_schedules()
    assert (stored.key, stored.input) == ("nightly", {"older_than_days": 90})


@pytest.mark.timeout(10)
@pytest.mark.parametrize("key", ["", 5])
def test_an_empty_or_non_string_key_is_refused(durable: Durable, key: Any) -> None:
    engine = durable.engine(durable.memory(), [REPORT])
    with pytest.raises(ConfigError):
        engine.schedule(REPORT, None, every="1h", key=key)
    assert engine.list_schedules() == []


@pytest.mark.timeout(10)
def test_registering_an_unchanged_schedule_again_keeps_its_cadence(durable: Durable) -> None:
    storage = durable.memory()
    for minute in (0, 12, 24, 36, 48):
        durable.clock.set(START_MS / 1000 + minute * 60)
        engine = durable.engine(storage, [CLEANUP])  # a fresh engine each time
        engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h")
        [stored] = engine.list_schedules()
        assert stored.next_run_at == START_MS + 3_600_000
        assert (stored.created_at, stored.updated_at) == (START_MS, START_MS + minute * 60_000)

    durable.clock.set(START_MS / 1000 + HOUR)
    engine.tick()
    assert len(engine.list_runs(workflow="cleanup")) == 1


@pytest.mark.timeout(10)
def test_changing_the_recurrence_of_a_key_resets_its_next_firing(durable: Durable) -> None:
    engine = durable.engine(durable.memory(), [CLEANUP])
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="1h", key="nightly")
    durable.clock.advance(30 * 60)
    engine.schedule(CLEANUP, {"older_than_days": 30}, every="2h", key="nightly")
    [stored] = engine.list_schedules()
    assert (stored.key, stored.every) == ("nightly", 7200)
    assert stored.next_run_at == START_MS + 30 * 60_000 + 7_200_000

    durable.clock.advance(30 * 60)  # the old cadence's occurrence: nothing fires
    engine.tick()
    assert engine.list_runs(workflow="cleanup") == []

    engine.schedule(CLEANUP, {"older_than_days": 30}, cron="30 9 * * *", key="nightly")
    [stored] = engine.list_schedules()
    assert (stored.every, stored.cron) == (None, "30 9 * * *")
    assert stored.next_run_at == _ms(datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc))


@pytest.mark.timeout(10)
def test_unschedule_removes_a_schedule_once_and_stop_never_does(durable: Durable) -> None:
    storage = durable.memory()
    engine = durable.engine(storage, [REPORT])
    key = engine.schedule(REPORT, None, every="1h")
    engine.stop()
    later = durable.engine(storage, [REPORT])
    assert [s.key for s in later.list_schedules()] == [key]

    assert later.unschedule(key) is True
    assert later.unschedule(key) is False
    assert later.list_schedules() == []
    assert engine.unschedule("never-registered") is False
