"""Occurrence arithmetic, recurrences and default schedule keys (reflow-ts SC-12, SC-13, SC-16)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflow_actors.errors import ConfigError, SerializationError
from reflow_actors.schedule import (
    Recurrence,
    default_schedule_key,
    first_occurrence,
    next_occurrence,
)

UTC = timezone.utc
HOUR_MS = 3_600_000
YEAR_MS = 365 * 24 * HOUR_MS
REPO = Path(__file__).resolve().parent.parent


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


# --- next_occurrence: intervals (SC-12) ---------------------------------------------


def test_future_occurrence_is_left_untouched():
    assert next_occurrence(1000, 500, every_ms=100) == 1000


@pytest.mark.parametrize(
    ("now", "expected"), [(1000, 1100), (1050, 1100), (1099, 1100), (1100, 1200)]
)
def test_advances_past_now_by_whole_intervals(now, expected):
    assert next_occurrence(1000, now, every_ms=100) == expected


def test_long_outage_is_skipped_in_one_step():
    assert next_occurrence(0, YEAR_MS, every_ms=1000) == 31_536_001_000


def test_result_is_an_int():
    result = next_occurrence(1000, 1050, every_ms=100)
    assert type(result) is int


@pytest.mark.parametrize("interval", [0, -1, -1000, None])
def test_invalid_interval_is_config_error(interval):
    with pytest.raises(ConfigError):
        next_occurrence(1000, 1000, every_ms=interval)


@pytest.mark.parametrize("interval", [float("nan"), float("inf")])
def test_non_finite_interval_is_config_error(interval):
    with pytest.raises(ConfigError):
        next_occurrence(0, 1000, every_ms=interval)


@pytest.mark.parametrize("now", [0, 1, 99, 100, 101, 12_345])
def test_always_strictly_after_now(now):
    assert next_occurrence(0, now, every_ms=100) > now


@settings(max_examples=200, deadline=None)
@given(
    due=st.integers(0, 10**13),
    now=st.integers(0, 10**13),
    every=st.integers(1, 10**10),
)
def test_property_interval_occurrence(due, now, every):
    result = next_occurrence(due, now, every_ms=every)
    if due > now:
        assert result == due
        return
    assert result > now
    assert (result - due) % every == 0  # stays on the original cadence
    assert result - every <= now  # and is the first slot after now: nothing skipped too far


# --- next_occurrence: cron (SC-12, SC-13) ---------------------------------------------


def test_cron_future_occurrence_is_left_untouched():
    due = ms(2026, 3, 10, 9)
    assert next_occurrence(due, due - 1, cron="0 9 * * *") == due


def test_cron_advances_to_next_day():
    due = ms(2026, 3, 10, 9)
    assert next_occurrence(due, ms(2026, 3, 10, 9, 1), cron="0 9 * * *") == ms(2026, 3, 11, 9)


def test_cron_claimed_exactly_when_due_moves_on():
    due = ms(2026, 3, 10, 9)
    assert next_occurrence(due, due, cron="0 9 * * *") == ms(2026, 3, 11, 9)


def test_cron_friday_to_monday():
    # 2026-03-13 is a Friday; the next weekday occurrence is Monday the 16th.
    due = ms(2026, 3, 13, 9)
    assert next_occurrence(due, due, cron="0 9 * * 1-5") == ms(2026, 3, 16, 9)


def test_cron_is_anchored_on_now_not_due():
    # Missed occurrences are skipped: a week-old due time goes straight to the next slot.
    due = ms(2026, 3, 3, 9)
    assert next_occurrence(due, ms(2026, 3, 10, 12), cron="0 9 * * *") == ms(2026, 3, 11, 9)


def test_cron_sub_minute_now_is_strictly_after():
    due = ms(2026, 3, 10, 12)
    now = due + 30_500  # 12:00:30.500
    assert next_occurrence(due, now, cron="*/15 * * * *") == ms(2026, 3, 10, 12, 15)


def test_cron_wins_over_interval_argument():
    due = ms(2026, 3, 10, 9)
    assert next_occurrence(due, due, every_ms=1, cron="0 9 * * *") == ms(2026, 3, 11, 9)


# --- first_occurrence ----------------------------------------------------------------


def test_first_occurrence_every_is_one_interval_after_now():
    now = ms(2026, 3, 10, 8, 17)
    assert first_occurrence(Recurrence.build("1h", None), now) == now + HOUR_MS
    assert first_occurrence(Recurrence(every_ms=250), 1000) == 1250


def test_first_occurrence_cron_is_next_matching_minute():
    now = ms(2026, 3, 10, 8)
    assert first_occurrence(Recurrence.build(None, "0 9 * * *"), now) == ms(2026, 3, 10, 9)


def test_first_occurrence_cron_strictly_after_now():
    now = ms(2026, 3, 10, 9)
    assert first_occurrence(Recurrence.build(None, "0 9 * * *"), now) == ms(2026, 3, 11, 9)
    assert first_occurrence(Recurrence.build(None, "@daily"), now + 123) == ms(2026, 3, 11)


def test_first_occurrence_cron_from_sub_minute_now():
    now = ms(2026, 3, 10, 8, 59) + 59_999
    assert first_occurrence(Recurrence.build(None, "0 9 * * *"), now) == ms(2026, 3, 10, 9)


# --- Recurrence.build -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("every", "expected_ms"),
    [
        (60, 60_000),
        (0.25, 250),
        ("1h", HOUR_MS),
        ("250ms", 250),
        ("1.5s", 1500),
        (timedelta(minutes=5), 300_000),
    ],
)
def test_build_every(every, expected_ms):
    recurrence = Recurrence.build(every, None)
    assert recurrence == Recurrence(every_ms=expected_ms)
    assert recurrence.cron is None
    assert recurrence.cadence == f"every:{expected_ms}"


@pytest.mark.parametrize(("every", "cron"), [(None, None), (60, "0 9 * * *"), ("1h", "@daily")])
def test_build_needs_exactly_one(every, cron):
    with pytest.raises(ConfigError, match="exactly one"):
        Recurrence.build(every, cron)


@pytest.mark.parametrize(
    "every", [0, 0.0, "0s", "0ms", 0.0004, -1, "-5s", "soon", "10", True, float("nan"), []]
)
def test_build_rejects_non_positive_or_bad_every(every):
    with pytest.raises(ConfigError):
        Recurrence.build(every, None)


def test_build_cron_is_trimmed_and_kept_as_written():
    assert Recurrence.build(None, "  0 9 * * 1-5 \n") == Recurrence(cron="0 9 * * 1-5")
    assert Recurrence.build(None, " @Daily ").cron == "@Daily"
    assert Recurrence.build(None, "0 9 * * mon-fri").cadence == "cron:0 9 * * mon-fri"


@pytest.mark.parametrize(
    "cron", ["not a cron", "99 * * * *", "", "   ", "0 0 30 2 *", "0 0 31 4,6,9,11 *", 5, b"@daily"]
)
def test_build_rejects_malformed_or_impossible_cron(cron):
    with pytest.raises(ConfigError):
        Recurrence.build(None, cron)


def test_build_out_of_range_message():
    with pytest.raises(ConfigError, match="out of range"):
        Recurrence.build(None, "99 * * * *")


def test_recurrence_is_frozen():
    recurrence = Recurrence.build(60, None)
    with pytest.raises(AttributeError):
        recurrence.every_ms = 1  # type: ignore[misc]


# --- default_schedule_key (SC-9, SC-16) ---------------------------------------------

EVERY_HOUR = Recurrence(every_ms=HOUR_MS)
CRON_HOURLY = Recurrence(cron="0 * * * *")


def key(value, workflow="cleanup", recurrence=EVERY_HOUR):
    return default_schedule_key(workflow, recurrence, value)


def test_key_is_22_url_safe_chars():
    for value in ({"olderThanDays": 30}, None, [], "x" * 1000, {"é": "☃"}):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", key(value))


def test_key_matches_the_documented_derivation():
    # SHA-256 over workflow \0 cadence \0 canonical JSON (keys sorted, compact),
    # base64url, first 22 characters.
    value = {"b": [1, "two", None, True], "a": {"z": 1, "y": "é"}}
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(b"cleanup\0every:3600000\0" + canonical.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).decode()[:22]
    assert key(value) == expected


def test_key_known_values():
    # Pinned: a change here silently forks every stored schedule's identity.
    assert key({"olderThanDays": 30}) == "SY4-aoJ4vX6e9wVWYOemki"
    assert key({"olderThanDays": 30}, recurrence=CRON_HOURLY) == "U3Si4FfHyxJIEyjNhbcKEx"


def test_key_is_independent_of_key_order_at_every_depth():
    left = {"a": 1, "b": {"c": 2, "d": 3, "e": [{"x": 1, "y": 2}]}}
    right = {"b": {"e": [{"y": 2, "x": 1}], "d": 3, "c": 2}, "a": 1}
    assert key(left) == key(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": 1}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": 2, "b": 1}),  # a value swap is not a key-order swap
        ({"a": 1, "b": 2}, {"b": 1, "a": 2}),
        ({"a": "b"}, {"b": "a"}),  # key/value swap
        ([1, 2], [2, 1]),  # array order is significant
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"a": 1}, {"a": "1"}),
        ({"a": True}, {"a": 1}),
        ({"a": None}, {}),
        ({"a": [1]}, {"a": 1}),
        ({"a": {"b": 1}}, {"a.b": 1}),
        ([], {}),
        (None, {}),
        ("", None),
    ],
)
def test_key_distinguishes_values(left, right):
    assert key(left) != key(right)


def test_key_distinguishes_workflow_and_recurrence():
    value = {"olderThanDays": 30}
    keys = {
        key(value),
        key(value, workflow="report"),
        key(value, recurrence=CRON_HOURLY),
        key(value, recurrence=Recurrence(every_ms=HOUR_MS + 1)),
        key(value, recurrence=Recurrence(cron="0 9 * * *")),
    }
    assert len(keys) == 5


def test_key_uses_trimmed_cron():
    built = Recurrence.build(None, "  0 * * * *  ")
    assert key({"a": 1}, recurrence=built) == key({"a": 1}, recurrence=CRON_HOURLY)


def test_key_tuple_equals_list_and_datetime_is_stable():
    when = datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert key({"xs": (1, 2)}) == key({"xs": [1, 2]})
    assert key({"at": when}) == key({"at": when})
    assert key({"at": when}) != key({"at": when + timedelta(seconds=1)})


def test_key_refuses_non_persistable_input():
    with pytest.raises(SerializationError) as caught:
        key({"tags": {1, 2}})
    assert caught.value.path == "input.tags"


_SUBPROCESS = """
import sys
from reflow_actors.schedule import Recurrence, default_schedule_key
value = {"zeta": [3, {"b": 1, "a": 2}], "alpha": "x", "mid": {"k2": None, "k1": 1.5}}
print(default_schedule_key("cleanup", Recurrence(every_ms=3600000), value))
print(default_schedule_key("cleanup", Recurrence(cron="0 9 * * 1-5"), value))
"""


def _key_in_subprocess(seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def test_key_is_the_same_in_every_process():
    value = {"mid": {"k1": 1.5, "k2": None}, "alpha": "x", "zeta": [3, {"a": 2, "b": 1}]}
    here = [key(value), key(value, recurrence=Recurrence(cron="0 9 * * 1-5"))]
    assert _key_in_subprocess("1") == here
    assert _key_in_subprocess("12345") == here
