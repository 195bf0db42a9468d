"""Cron parsing and next-occurrence arithmetic (reflow-ts CR-1..CR-10, all UTC)."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflow_actors import cron as cron_module
from reflow_actors.cron import CronExpression, next_cron_occurrence, parse_cron
from reflow_actors.errors import ConfigError

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- CR-1: fields, lists, ranges, steps ---------------------------------------------


def test_wildcards_cover_whole_fields():
    cron = parse_cron("* * * * *")
    assert cron.minutes == frozenset(range(60))
    assert cron.hours == frozenset(range(24))
    assert cron.days_of_month == frozenset(range(1, 32))
    assert cron.months == frozenset(range(1, 13))
    assert cron.days_of_week == frozenset(range(7))
    assert not cron.day_of_month_restricted
    assert not cron.day_of_week_restricted


@pytest.mark.parametrize(
    ("minute", "expected"),
    [
        ("5", {5}),
        ("1,3,5", {1, 3, 5}),
        ("10-13", {10, 11, 12, 13}),
        ("*/15", {0, 15, 30, 45}),
        ("0-30/10", {0, 10, 20, 30}),
        ("5/15", {5, 20, 35, 50}),  # bare a/step runs to the field maximum
        ("0-4,50-59/5,7", {0, 1, 2, 3, 4, 50, 55, 7}),
        ("05", {5}),  # leading zeros are still decimal
        ("59", {59}),
        ("0", {0}),
    ],
)
def test_minute_terms(minute, expected):
    assert parse_cron(f"{minute} * * * *").minutes == frozenset(expected)


def test_open_range_uses_each_fields_maximum():
    cron = parse_cron("* 20/2 25/3 10/1 *")
    assert cron.hours == {20, 22}
    assert cron.days_of_month == {25, 28, 31}
    assert cron.months == {10, 11, 12}


def test_whitespace_between_and_around_fields():
    cron = parse_cron("  0\t9  *\n* 1-5 ")
    assert cron.source == "0\t9  *\n* 1-5"
    assert cron.minutes == {0}
    assert cron.hours == {9}


def test_expression_is_frozen_and_slotted():
    cron = parse_cron("0 9 * * 1-5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cron.source = "x"  # type: ignore[misc]
    assert not hasattr(cron, "__dict__")
    assert cron == parse_cron("0 9 * * 1-5")  # value equality, usable as a key
    assert hash(cron) == hash(parse_cron("0 9 * * 1-5"))


# --- CR-2: names, case, Sunday as 7 -------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "attr", "expected"),
    [
        ("* * * JAN *", "months", {1}),
        ("* * * jan *", "months", {1}),
        ("* * * Dec *", "months", {12}),
        ("* * * mar-may *", "months", {3, 4, 5}),
        ("* * * MAR-May *", "months", {3, 4, 5}),
        ("* * * jan-dec/3 *", "months", {1, 4, 7, 10}),
        ("* * * 1,feb,Mar *", "months", {1, 2, 3}),
        ("* * * * mon", "days_of_week", {1}),
        ("* * * * MON-fri", "days_of_week", {1, 2, 3, 4, 5}),
        ("* * * * sun", "days_of_week", {0}),
        ("* * * * SAT", "days_of_week", {6}),
        ("* * * * 7", "days_of_week", {0}),
        ("* * * * 0", "days_of_week", {0}),
        ("* * * * 0,7", "days_of_week", {0}),
        ("* * * * 5-7", "days_of_week", {5, 6, 0}),
        ("* * * * mon/2", "days_of_week", {1, 3, 5, 0}),  # 1..7 step 2: 7 is Sunday
    ],
)
def test_names_and_sunday(expr, attr, expected):
    assert getattr(parse_cron(expr), attr) == frozenset(expected)


def test_seven_is_sunday_when_searching():
    # 2026-03-15 is a Sunday.
    assert next_cron_occurrence("0 0 * * 7", utc(2026, 3, 10, 12)) == utc(2026, 3, 15)
    assert next_cron_occurrence("0 0 * * 0", utc(2026, 3, 10, 12)) == utc(2026, 3, 15)


def test_names_are_not_accepted_in_other_fields():
    with pytest.raises(ConfigError, match="minute"):
        parse_cron("jan * * * *")
    with pytest.raises(ConfigError, match="month"):
        parse_cron("* * * mon *")
    with pytest.raises(ConfigError, match="day-of-week"):
        parse_cron("* * * * jan")


# --- CR-3: aliases ------------------------------------------------------------------

FROM = utc(2026, 3, 10, 12)  # a Tuesday


@pytest.mark.parametrize(
    ("alias", "after", "expected"),
    [
        ("@daily", FROM, utc(2026, 3, 11)),
        ("@midnight", FROM, utc(2026, 3, 11)),
        ("@hourly", utc(2026, 3, 10, 12, 30), utc(2026, 3, 10, 13)),
        ("@weekly", FROM, utc(2026, 3, 15)),
        ("@monthly", FROM, utc(2026, 4, 1)),
        ("@yearly", FROM, utc(2027, 1, 1)),
        ("@annually", FROM, utc(2027, 1, 1)),
        ("@DAILY", FROM, utc(2026, 3, 11)),
        ("  @Weekly ", FROM, utc(2026, 3, 15)),
    ],
)
def test_aliases(alias, after, expected):
    assert next_cron_occurrence(alias, after) == expected


@pytest.mark.parametrize(
    ("alias", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_alias_expansion_keeps_source(alias, equivalent):
    parsed = parse_cron(alias.upper())
    assert parsed.source == alias.upper()  # stored as written, not expanded
    assert dataclasses.replace(parsed, source=equivalent) == parse_cron(equivalent)


@pytest.mark.parametrize("expr", ["@every", "@reboot", "@", "@daily *", "@ daily"])
def test_unknown_aliases_rejected(expr):
    with pytest.raises(ConfigError, match="cron"):
        parse_cron(expr)


# --- CR-4: day-of-month / day-of-week ------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "dom", "dow"),
    [
        ("0 0 13 * 5", True, True),
        ("0 0 * * *", False, False),
        ("0 0 13 * *", True, False),
        ("0 0 * * 5", False, True),
        # Restriction is decided by coverage, not by text: these select every day.
        ("0 0 */1 * */1", False, False),
        ("0 0 1-31 * 0-6", False, False),
        ("0 0 * * 1-7", False, False),
        ("0 0 * * 0-7", False, False),
        ("0 0 * * sun-sat", False, False),
        ("0 0 1/1 * 0/1", False, False),
        # ...while these do not.
        ("0 0 */2 * *", True, False),
        ("0 0 * * */2", False, True),
        ("0 0 1-30 * 1-6", True, True),
        ("@monthly", True, False),
        ("@weekly", False, True),
    ],
)
def test_restricted_flags(expr, dom, dow):
    cron = parse_cron(expr)
    assert cron.day_of_month_restricted is dom
    assert cron.day_of_week_restricted is dow


def test_both_day_fields_restricted_means_or():
    # 2026-03-13 is the 13th and a Friday.
    assert next_cron_occurrence("0 0 13 * 5", utc(2026, 3, 9)) == utc(2026, 3, 13)
    # 2026-04-03 is a Friday before the 13th.
    assert next_cron_occurrence("0 0 13 * 5", utc(2026, 4, 1)) == utc(2026, 4, 3)
    # 2026-05-13 is a Wednesday, matched by day-of-month alone.
    assert next_cron_occurrence("0 0 13 * 5", utc(2026, 5, 9)) == utc(2026, 5, 13)


def test_only_day_of_month_restricted_ignores_weekday():
    assert next_cron_occurrence("0 0 13 * *", utc(2026, 5, 1)) == utc(2026, 5, 13)


def test_only_day_of_week_restricted_ignores_day_of_month():
    assert next_cron_occurrence("0 0 * * 5", utc(2026, 5, 1)) == utc(2026, 5, 1, 0, 0) + timedelta(
        days=7
    )
    assert next_cron_occurrence("0 0 * * 5", utc(2026, 4, 30)) == utc(2026, 5, 1)


def test_step_one_day_field_does_not_trigger_or_rule():
    # "*/1" selects every day: with day-of-week 5 only Fridays may match (AND),
    # not every day (which OR would give if "*/1" counted as restricted).
    assert next_cron_occurrence("0 0 */1 * 5", utc(2026, 3, 9)) == utc(2026, 3, 13)
    assert next_cron_occurrence("0 0 13 * */1", utc(2026, 3, 1)) == utc(2026, 3, 13)
    assert next_cron_occurrence("0 0 13 * 0-7", utc(2026, 3, 1)) == utc(2026, 3, 13)


def test_matches_applies_or_rule():
    cron = parse_cron("30 8 13 * 5")
    assert cron.matches(utc(2026, 5, 13, 8, 30))  # Wednesday the 13th
    assert cron.matches(utc(2026, 5, 1, 8, 30))  # Friday the 1st
    assert not cron.matches(utc(2026, 5, 12, 8, 30))  # Tuesday the 12th
    assert not cron.matches(utc(2026, 5, 13, 8, 31))
    assert not cron.matches(utc(2026, 5, 13, 9, 30))


def test_matches_ignores_seconds_and_converts_to_utc():
    cron = parse_cron("30 8 * * *")
    assert cron.matches(utc(2026, 5, 13, 8, 30, 59, 999_999))
    assert cron.matches(datetime(2026, 5, 13, 8, 30))  # naive is UTC
    plus2 = timezone(timedelta(hours=2))
    assert cron.matches(datetime(2026, 5, 13, 10, 30, tzinfo=plus2))
    assert not cron.matches(datetime(2026, 5, 13, 8, 30, tzinfo=plus2))


# --- CR-5: rejections ---------------------------------------------------------------

REJECTED = [
    ("", "empty"),
    ("   ", "blank"),
    ("* * * *", "four fields"),
    ("* * * * * *", "six fields"),
    ("60 * * * *", "minute out of range"),
    ("* 24 * * *", "hour out of range"),
    ("* * 0 * *", "day-of-month below range"),
    ("* * 32 * *", "day-of-month above range"),
    ("* * * 0 *", "month below range"),
    ("* * * 13 *", "month out of range"),
    ("* * * * 8", "day-of-week out of range"),
    ("30-10 * * * *", "range runs backwards"),
    ("*/0 * * * *", "zero step"),
    ("*/-1 * * * *", "negative step"),
    ("1//2 * * * *", "double step"),
    ("nope * * * *", "not a number"),
    ("1,,2 * * * *", "empty list term"),
    (",1 * * * *", "leading empty term"),
    ("1, * * * *", "trailing empty term"),
    ("+5 * * * *", "sign"),
    ("0x1F * * * *", "hex"),
    ("1e1 * * * *", "exponent"),
    ("1.5 * * * *", "decimal"),
    ("\u0663 * * * *", "arabic-indic digit"),
    ("\uff15 * * * *", "fullwidth digit"),
    ("1-2-3 * * * *", "two dashes"),
    ("-5 * * * *", "missing range start"),
    ("5- * * * *", "missing range end"),
    ("*/ * * * *", "missing step"),
    ("*/x * * * *", "non-numeric step"),
    ("*/1.5 * * * *", "fractional step"),
    ("/5 * * * *", "missing step base"),
    ("*-5 * * * *", "star in a range"),
    ("9" * 5000 + " * * * *", "absurdly long number"),
    ("* * * foo *", "unknown month name"),
    ("* * * * funday", "unknown day name"),
    ("* * * * fri-mon", "backwards named range"),
    ("* * * january *", "long month name"),
    ("@", "bare at"),
]


@pytest.mark.parametrize(("expr", "label"), REJECTED, ids=[label for _, label in REJECTED])
def test_rejects_malformed(expr, label):
    with pytest.raises(ConfigError) as caught:
        parse_cron(expr)
    assert f'cron "{expr.strip()}"' in str(caught.value)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("60 * * * *", 'cron "60 * * * *": minute value 60 is out of range (0-59)'),
        ("* 24 * * *", "hour value 24 is out of range (0-23)"),
        ("* * 0 * *", "day-of-month value 0 is out of range (1-31)"),
        ("* * 32 * *", "day-of-month value 32 is out of range (1-31)"),
        ("* * * 13 *", "month value 13 is out of range (1-12)"),
        ("* * * * 8", "day-of-week value 8 is out of range (0-7)"),
        ("0 0-99 * * *", "hour value 99 is out of range (0-23)"),
        ("30-10 * * * *", 'minute range "30-10" runs backwards'),
        ("*/0 * * * *", 'minute step "0" in "*/0"'),
        ("*/-1 * * * *", 'minute step "-1" in "*/-1"'),
        ("1//2 * * * *", 'minute term "1//2"'),
        ("nope * * * *", 'minute value "nope" is not a number'),
        ("1,,2 * * * *", 'minute field "1,,2" has an empty term'),
        ("* * 1 foo *", 'month value "foo"'),
        ("* * * *", "got 4"),
        ("* * * * * *", "got 6"),
    ],
)
def test_error_messages_name_the_field_and_term(expr, message):
    with pytest.raises(ConfigError) as caught:
        parse_cron(expr)
    assert message in str(caught.value)


@pytest.mark.parametrize("value", [None, 5, 1.5, b"* * * * *", ["*"] * 5, object()])
def test_non_string_is_config_error(value):
    with pytest.raises(ConfigError, match="string"):
        parse_cron(value)


def test_next_with_non_string_expression_is_config_error():
    with pytest.raises(ConfigError):
        next_cron_occurrence(42, FROM)  # type: ignore[arg-type]


def test_next_with_non_datetime_after_is_config_error():
    with pytest.raises(ConfigError, match="datetime"):
        next_cron_occurrence("* * * * *", "2026-03-10")  # type: ignore[arg-type]


# --- impossible expressions (checked at parse time) -----------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 30 2 *",
        "0 0 31 2 *",
        "0 0 30,31 feb *",
        "0 0 31 4,6,9,11 *",
        "0 0 31 apr,jun,sep,nov *",
        "0 0 30-31 2 *",
        "0 0 31 2,4 *",
    ],
)
def test_impossible_expressions_rejected_at_parse(expr):
    with pytest.raises(ConfigError, match="never be satisfied") as caught:
        parse_cron(expr)
    assert f'cron "{expr}"' in str(caught.value)


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 29 2 *",  # leap day: rare but possible
        "0 0 30 2,3 *",  # March has a 30th
        "0 0 31 4,6,9,11,12 *",
        "0 0 30 2 1",  # both restricted: Mondays in February match under OR
        "0 0 31 4 */2",
        "0 0 28-31 2 *",
    ],
)
def test_possible_rare_expressions_accepted(expr):
    cron = parse_cron(expr)
    found = next_cron_occurrence(cron, utc(2026, 3, 1))
    assert cron.matches(found)


def test_impossible_hand_built_expression_reports_cannot_be_satisfied():
    # Bypassing parse_cron's static check, the bounded search still ends.
    cron = dataclasses.replace(parse_cron("0 0 30 3 *"), months=frozenset({2}))
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="cannot be satisfied"):
        next_cron_occurrence(cron, FROM)
    assert time.perf_counter() - started < 1.0


def test_end_of_datetime_range_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be satisfied"):
        next_cron_occurrence("0 0 1 1 *", datetime(9999, 12, 31, 23, 59))
    with pytest.raises(ConfigError, match="cannot be satisfied"):
        next_cron_occurrence("0 0 1 1 *", datetime(9999, 6, 1))
    assert next_cron_occurrence("59 23 31 12 *", datetime(9999, 12, 31, 23, 58)) == utc(
        9999, 12, 31, 23, 59
    )


# --- CR-6: strictly after, zeroed seconds ------------------------------------------------


@pytest.mark.parametrize(
    "after",
    [utc(2026, 3, 10, 12, 0, 0), utc(2026, 3, 10, 12, 0, 30), utc(2026, 3, 10, 12, 14, 59)],
)
def test_strictly_after(after):
    assert next_cron_occurrence("*/15 * * * *", after) == utc(2026, 3, 10, 12, 15)


def test_an_exact_match_is_not_returned():
    assert next_cron_occurrence("0 12 * * *", utc(2026, 3, 10, 12)) == utc(2026, 3, 11, 12)
    assert next_cron_occurrence("* * * * *", utc(2026, 3, 10, 12)) == utc(2026, 3, 10, 12, 1)
    # Microseconds into the matching minute still count as "at" it.
    assert next_cron_occurrence("0 12 * * *", utc(2026, 3, 10, 12, 0, 0, 1)) == utc(2026, 3, 11, 12)


def test_zeroed_seconds_and_microseconds():
    found = next_cron_occurrence("*/5 * * * *", utc(2026, 3, 10, 12, 1, 37, 482_000))
    assert found == utc(2026, 3, 10, 12, 5)
    assert (found.second, found.microsecond) == (0, 0)
    assert found.tzinfo is not None
    assert found.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "after",
    [
        utc(2026, 1, 1, 0, 0),
        utc(2026, 6, 15, 23, 59, 59),
        utc(2026, 12, 31, 23, 58),
        utc(2026, 2, 28, 12, 34, 56),
    ],
)
def test_always_strictly_greater(after):
    found = next_cron_occurrence("*/7 */3 * * *", after)
    assert found > after
    assert found.minute % 7 == 0
    assert found.hour % 3 == 0


# --- CR-7: rollovers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("0 * * * *", utc(2026, 3, 10, 12, 30), utc(2026, 3, 10, 13)),
        ("0 9 * * *", utc(2026, 3, 10, 12), utc(2026, 3, 11, 9)),
        ("0 0 1 * *", utc(2026, 3, 10, 12), utc(2026, 4, 1)),
        ("0 0 1 1 *", utc(2026, 3, 10, 12), utc(2027, 1, 1)),
        ("0 9 * * 1-5", utc(2026, 3, 10, 10), utc(2026, 3, 11, 9)),  # Tue -> Wed
        ("0 9 * * 1-5", utc(2026, 3, 13, 13), utc(2026, 3, 16, 9)),  # Fri -> Mon
        ("0 9 * * mon-fri", utc(2026, 3, 14, 8), utc(2026, 3, 16, 9)),  # Sat -> Mon
        ("0 0 31 * *", utc(2026, 1, 31, 12), utc(2026, 3, 31)),  # skips February
        ("0 0 31 * *", utc(2026, 3, 31, 12), utc(2026, 5, 31)),  # skips April
        ("0 0 29 2 *", utc(2026, 3, 1), utc(2028, 2, 29)),
        ("0 0 29 2 *", utc(2028, 2, 29), utc(2032, 2, 29)),
        ("0 0 29 2 *", utc(2096, 3, 1), utc(2104, 2, 29)),  # 2100 is not a leap year
        ("59 23 31 12 *", utc(2026, 3, 10), utc(2026, 12, 31, 23, 59)),
        ("0 0 1 1 *", utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1)),
        ("30 23 * * *", utc(2026, 2, 28, 23, 45), utc(2026, 3, 1, 23, 30)),
        ("15,45 */6 * * *", utc(2026, 3, 10, 18, 46), utc(2026, 3, 11, 0, 15)),
        ("0 0 * 2 *", utc(2026, 3, 1), utc(2027, 2, 1)),
        ("0 0 1 jan,jul *", utc(2026, 3, 10), utc(2026, 7, 1)),
        ("0 12 * * 0", utc(2026, 3, 15, 12), utc(2026, 3, 22, 12)),
    ],
)
def test_rollovers(expr, after, expected):
    assert next_cron_occurrence(expr, after) == expected


def test_yearly_and_leap_day_searches_are_fast():
    # A minute-by-minute scan to 2104 would take millions of steps; skipping is instant.
    started = time.perf_counter()
    for _ in range(50):
        next_cron_occurrence("0 0 29 2 *", utc(2096, 3, 1))
        next_cron_occurrence("59 23 31 12 *", utc(2026, 1, 1))
        next_cron_occurrence("0 0 1 1 *", utc(2026, 1, 1))
    assert time.perf_counter() - started < 1.0


# --- CR-9: repeated application ------------------------------------------------------


def test_stable_when_applied_repeatedly():
    current = utc(2026, 3, 9)
    seen = []
    for _ in range(6):
        current = next_cron_occurrence("0 9 * * 1-5", current)
        seen.append(current)
    assert seen == [
        utc(2026, 3, 9, 9),
        utc(2026, 3, 10, 9),
        utc(2026, 3, 11, 9),
        utc(2026, 3, 12, 9),
        utc(2026, 3, 13, 9),
        utc(2026, 3, 16, 9),
    ]


# --- CR-10 and the "after" argument ---------------------------------------------------


def test_accepts_parsed_or_text():
    parsed = parse_cron("0 9 * * 1-5")
    assert isinstance(parsed, CronExpression)
    after = utc(2026, 3, 13, 13)
    assert next_cron_occurrence(parsed, after) == next_cron_occurrence("0 9 * * 1-5", after)


def test_public_exports():
    assert sorted(cron_module.__all__) == ["CronExpression", "next_cron_occurrence", "parse_cron"]
    for name in cron_module.__all__:
        assert getattr(cron_module, name).__doc__


def test_naive_after_means_utc():
    found = next_cron_occurrence("0 9 * * *", datetime(2026, 3, 10, 8, 59))
    assert found == utc(2026, 3, 10, 9)
    assert found.tzinfo is not None
    assert found.utcoffset() == timedelta(0)


def test_aware_non_utc_after_is_converted():
    tokyo = timezone(timedelta(hours=9))
    # 2026-03-10T17:30+09:00 is 08:30Z: 09:00Z is still ahead the same day.
    found = next_cron_occurrence("0 9 * * *", datetime(2026, 3, 10, 17, 30, tzinfo=tokyo))
    assert found == utc(2026, 3, 10, 9)
    assert found.utcoffset() == timedelta(0)
    west = timezone(timedelta(hours=-5, minutes=-30))
    # 2026-03-10T04:00-05:30 is 09:30Z: the next 09:00Z is tomorrow.
    assert next_cron_occurrence("0 9 * * *", datetime(2026, 3, 10, 4, 0, tzinfo=west)) == utc(
        2026, 3, 11, 9
    )


def test_result_is_exactly_utc_timezone():
    found = next_cron_occurrence(
        "* * * * *", datetime(2026, 3, 10, 12, tzinfo=timezone(timedelta(hours=3)))
    )
    assert found.tzinfo is UTC or found.tzinfo == UTC
    assert found == utc(2026, 3, 10, 9, 1)


# --- property: random expressions against an independent brute force --------------------

FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _render(index: int, value: int, style: int) -> str:
    # Sometimes write months and days as names, in assorted cases.
    names = MONTHS if index == 3 else DAYS if index == 4 else None
    if names is None or style == 0 or (index == 4 and value == 7):
        return str(value)
    name = names[value - 1] if index == 3 else names[value]
    return name.upper() if style == 1 else name.title()


@st.composite
def cron_term(draw, index: int):
    low, high = FIELD_RANGES[index]
    kind = draw(st.sampled_from(["value", "range", "stepped", "star", "starstep", "open"]))
    style = draw(st.integers(0, 2))
    if kind == "star":
        return "*", set(range(low, high + 1))
    if kind == "starstep":
        step = draw(st.integers(1, high))
        return f"*/{step}", set(range(low, high + 1, step))
    a = draw(st.integers(low, high))
    if kind == "value":
        return _render(index, a, style), {a}
    if kind == "open":
        step = draw(st.integers(1, high))
        return f"{_render(index, a, style)}/{step}", set(range(a, high + 1, step))
    b = draw(st.integers(a, high))
    text = f"{_render(index, a, style)}-{_render(index, b, style)}"
    if kind == "range":
        return text, set(range(a, b + 1))
    step = draw(st.integers(1, high))
    return f"{text}/{step}", set(range(a, b + 1, step))


@st.composite
def cron_expression(draw):
    fields, sets = [], []
    for index in range(5):
        terms = draw(st.lists(cron_term(index), min_size=1, max_size=3))
        fields.append(",".join(text for text, _ in terms))
        values = set().union(*(values for _, values in terms))
        sets.append({v % 7 for v in values} if index == 4 else values)
    return " ".join(fields), sets


def _reference_matches(sets, moment: datetime) -> bool:
    minutes, hours, doms, months, dows = sets
    dom_restricted = doms != set(range(1, 32))
    dow_restricted = dows != set(range(7))
    dom_ok = moment.day in doms
    dow_ok = moment.isoweekday() % 7 in dows  # isoweekday: Monday 1 .. Sunday 7
    if dom_restricted and dow_restricted:
        day_ok = dom_ok or dow_ok
    else:
        day_ok = dom_ok and dow_ok
    return moment.minute in minutes and moment.hour in hours and moment.month in months and day_ok


def _reference_possible(sets) -> bool:
    _, _, doms, months, dows = sets
    if dows != set(range(7)):
        return True  # some day every week matches, alone or under OR
    longest = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}
    return any(min(doms) <= longest.get(month, 31) for month in months)


afters = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cron_expression(), afters)
def test_property_next_occurrence(expression, after):
    text, sets = expression
    if not _reference_possible(sets):
        with pytest.raises(ConfigError, match="never be satisfied"):
            parse_cron(text)
        return
    cron = parse_cron(text)
    assert cron.minutes == sets[0]
    assert cron.hours == sets[1]
    assert cron.days_of_month == sets[2]
    assert cron.months == sets[3]
    assert cron.days_of_week == sets[4]

    found = next_cron_occurrence(cron, after)
    assert found > after
    assert (found.second, found.microsecond) == (0, 0)
    assert found.utcoffset() == timedelta(0)
    assert cron.matches(found)
    assert _reference_matches(sets, found)

    if found - after <= timedelta(days=3):
        moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while moment < found:
            assert not _reference_matches(sets, moment), moment
            moment += timedelta(minutes=1)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(
        ["*/7 * * * *", "0 */5 * * *", "15 3 * * 1-5", "0 0 13 * 5", "*/20 9-17 * * *"]
    ),
    afters,
)
def test_property_brute_force_for_frequent_expressions(text, after):
    # Expressions that fire at least weekly, so the brute force always applies.
    cron = parse_cron(text)
    found = next_cron_occurrence(text, after)
    assert found > after
    assert cron.matches(found)
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < found:
        assert not cron.matches(moment), moment
        moment += timedelta(minutes=1)
