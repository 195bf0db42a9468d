"""parse_duration: seconds, timedeltas and unit strings (reflow-ts DU-1..DU-3, in seconds)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from reflow_actors.errors import ConfigError
from reflow_actors.schedule import parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (1500, 1500.0),
        (0.25, 0.25),
        (2.5, 2.5),
        (10**9, 1e9),
    ],
)
def test_numbers_pass_through(value, seconds):
    result = parse_duration(value)
    assert result == seconds
    assert type(result) is float


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (timedelta(0), 0.0),
        (timedelta(seconds=30), 30.0),
        (timedelta(milliseconds=250), 0.25),
        (timedelta(days=7, hours=1), 7 * 86400 + 3600.0),
        (timedelta(microseconds=1), 1e-6),
    ],
)
def test_timedelta(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("500ms", 0.5),
        ("0ms", 0.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("24h", 86_400.0),
        ("7d", 604_800.0),
        (" 2h ", 7_200.0),
        ("\t2h\n", 7_200.0),
        ("1.5s", 1.5),
        ("0.5m", 30.0),
        ("10 s", 10.0),  # whitespace between number and unit is allowed
        ("1m", 60.0),  # "m" is minutes, and "ms" is tried before "m"
        ("1ms", 0.001),
    ],
)
def test_unit_strings(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_fractional_milliseconds_are_kept():
    assert parse_duration("0.5ms") == pytest.approx(0.0005)


@pytest.mark.parametrize(
    "value",
    [
        -1,
        -0.001,
        math.inf,
        -math.inf,
        math.nan,
        timedelta(seconds=-1),
        True,
        False,
        "soon",
        "10",  # no unit
        "10 weeks",
        "",
        "   ",
        "5M",  # units are case-sensitive
        "5S",
        "5Ms",
        "1H",
        "-5s",
        "+5s",
        "5",
        "s",
        ".5s",
        "5.s",
        "1e3s",
        "5sec",
        "5 min",
        "1h30m",
        "\u0665s",  # an Arabic-Indic five: only ASCII digits are numbers
        None,
        [30],
        {"seconds": 30},
        b"30s",
        object(),
    ],
)
def test_rejects(value):
    with pytest.raises(ConfigError):
        parse_duration(value)


@pytest.mark.parametrize("value", ["soon", "10 weeks", "5M", -1, math.inf, True, [1]])
def test_error_names_the_value(value):
    with pytest.raises(ConfigError) as caught:
        parse_duration(value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("value", ["nope", -5, None, math.nan, False])
def test_error_names_what_was_parsed(value):
    with pytest.raises(ConfigError) as caught:
        parse_duration(value, what="sleep 'cool-off' duration")
    assert "sleep 'cool-off' duration" in str(caught.value)


def test_default_what_is_duration():
    with pytest.raises(ConfigError, match="duration"):
        parse_duration("nope")


def test_error_type_is_config_error_not_value_or_type_error():
    for value in ("nope", None, -1):
        with pytest.raises(ConfigError) as caught:
            parse_duration(value)
        assert not isinstance(caught.value, (ValueError, TypeError))
