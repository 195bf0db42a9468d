"""Five-field cron expressions, evaluated in UTC.

Syntax: exactly five whitespace-separated fields after trimming::

    minute   hour   day-of-month   month   day-of-week
    0-59     0-23   1-31           1-12    0-7 (0 and 7 are both Sunday)

Each field is a comma-separated list of terms. A term is ``*``, a value ``a``
or a range ``a-b``, optionally followed by ``/step`` (a whole number >= 1):
``*/15``, ``0-30/10``. A bare ``a/step`` runs from ``a`` to the field's
maximum (``5/15`` is 5, 20, 35, 50). Ranges do not wrap around: ``30-10`` is
an error. Months may be written ``jan``..``dec`` and days of the week
``sun``..``sat``, in any case, also inside ranges (``mon-fri``, ``mar-may``).
Numbers are plain ASCII decimal digits only (no signs, ``0x1F`` or ``1e1``).

Aliases, in any case: ``@yearly`` / ``@annually`` (``0 0 1 1 *``),
``@monthly`` (``0 0 1 * *``), ``@weekly`` (``0 0 * * 0``), ``@daily`` /
``@midnight`` (``0 0 * * *``) and ``@hourly`` (``0 * * * *``).

Days follow the Vixie cron rule: when both day-of-month and day-of-week are
restricted, a date matches if *either* matches (``0 0 13 * 5`` fires on every
13th and on every Friday); when only one is restricted, only that one applies.
A day field counts as restricted when the days it selects do not cover its
whole range, whatever it was written as: ``*``, ``*/1``, ``1-31`` and
``0-6`` are all unrestricted, ``*/2`` is restricted. (reflow-ts, and Vixie
cron itself, decide by the field's text instead, which makes ``*/1`` behave
differently from ``*``.)

Every malformed expression raises :class:`~reflow_actors.errors.ConfigError`
naming the expression and the offending field. So does an expression that can
never fire, such as ``0 0 30 2 *`` (February has no 30th): that is checked
when it is parsed, not discovered later by a schedule that never runs.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from .errors import ConfigError

__all__ = ["CronExpression", "next_cron_occurrence", "parse_cron"]

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAY_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}

# The most days each month can have; February counts its leap day, because an
# expression that fires only on 29 February is rare but satisfiable.
_MAX_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Leap years can be 8 years apart (2096 -> 2104), so a satisfiable expression
# always fires within this many years; the bound only guards against a
# hand-built CronExpression that can never match.
_SEARCH_YEARS = 10


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DAY_OF_WEEK = _Field("day-of-week", 0, 7, _DAY_NAMES)
_FIELDS = (_MINUTE, _HOUR, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK)
_ALL_WEEKDAYS = frozenset(range(7))
_ALL_MONTH_DAYS = frozenset(range(1, 32))


def _cron_weekday(year: int, month: int, day: int) -> int:
    """Cron numbering: 0 = Sunday .. 6 = Saturday (Python's weekday() has Monday = 0)."""
    return (date(year, month, day).weekday() + 1) % 7


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed cron expression; build one with :func:`parse_cron`.

    ``source`` is the trimmed text as written (an alias stays an alias). The
    sets hold the values each field selects; day-of-week uses 0 = Sunday (a
    ``7`` in the text is stored as 0). ``day_of_month_restricted`` and
    ``day_of_week_restricted`` say whether that day field selects less than
    its whole range, which decides how the two combine (see the module
    docstring).
    """

    source: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    day_of_month_restricted: bool
    day_of_week_restricted: bool

    def matches(self, dt: datetime) -> bool:
        """Whether the minute containing ``dt`` (UTC; naive means UTC) is an occurrence.

        Seconds and microseconds are ignored.
        """
        moment = _as_utc(dt)
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and _day_matches(self, moment.year, moment.month, moment.day)
        )


def _day_matches(cron: CronExpression, year: int, month: int, day: int) -> bool:
    in_month = day in cron.days_of_month
    in_week = _cron_weekday(year, month, day) in cron.days_of_week
    if cron.day_of_month_restricted and cron.day_of_week_restricted:
        return in_month or in_week
    # An unrestricted field selects every day, so AND leaves only the restricted one.
    return in_month and in_week


def _fail(source: str, detail: str) -> ConfigError:
    return ConfigError(f'cron "{source}": {detail}')


def _number(source: str, field: _Field, text: str, term: str) -> int:
    lowered = text.lower()
    if field.names is not None and lowered in field.names:
        return field.names[lowered]
    # str.isdigit() accepts non-ASCII digits such as "٣"; cron numbers are ASCII only.
    if not (text.isascii() and text.isdigit()):
        what = {"month": "a number or month name", "day-of-week": "a number or day name"}
        expected = what.get(field.name, "a number")
        shown = f'"{text}"' if text == term else f'"{text}" in "{term}"'
        raise _fail(source, f"{field.name} value {shown} is not {expected}")
    # Long digit strings are out of range anyway; skip int() on them entirely.
    value = int(text) if len(text) <= 6 else field.high + 1
    if not field.low <= value <= field.high:
        raise _fail(
            source,
            f"{field.name} value {text} is out of range ({field.low}-{field.high})",
        )
    return value


def _term(source: str, field: _Field, term: str) -> range:
    base, *steps = term.split("/")
    if len(steps) > 1:
        raise _fail(source, f'{field.name} term "{term}" has more than one "/"')
    step = 1
    if steps:
        text = steps[0]
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise _fail(
                source, f'{field.name} step "{text}" in "{term}" must be a whole number >= 1'
            )
        step = int(text)
    if base == "*":
        return range(field.low, field.high + 1, step)
    bounds = base.split("-")
    if len(bounds) > 2:
        raise _fail(source, f'{field.name} term "{term}" has more than one "-"')
    start = _number(source, field, bounds[0], term)
    if len(bounds) == 1:
        # A bare value is itself; with a step it opens a range to the field's maximum.
        end = field.high if steps else start
    else:
        end = _number(source, field, bounds[1], term)
        if end < start:
            raise _fail(source, f'{field.name} range "{base}" runs backwards')
    return range(start, end + 1, step)


def _field(source: str, field: _Field, text: str) -> frozenset[int]:
    values: set[int] = set()
    for term in text.split(","):
        if not term:
            raise _fail(source, f'{field.name} field "{text}" has an empty term')
        values.update(_term(source, field, term))
    return frozenset(values)


def _check_satisfiable(parsed: CronExpression) -> None:
    # Minutes, hours and months are never empty, so only the day fields can make
    # an expression impossible. With day-of-week restricted, every week has a
    # matching day (under OR as well as alone); otherwise some selected month
    # must be long enough for some selected day.
    if parsed.day_of_week_restricted:
        return
    if any(min(parsed.days_of_month) <= _MAX_DAYS[month] for month in parsed.months):
        return
    raise _fail(
        parsed.source,
        "can never be satisfied: none of the selected months has the selected day of month",
    )


def parse_cron(expr: str) -> CronExpression:
    """Parse a five-field cron expression or alias; raise ``ConfigError`` if it is bad.

    Malformed expressions and expressions that can never fire (``0 0 30 2 *``)
    are both refused, with a message naming the expression and the problem.
    """
    if not isinstance(expr, str):
        raise ConfigError(
            f"a cron expression must be a string; got a {type(expr).__name__}: {expr!r}"
        )
    source = expr.strip()
    text = source
    if text.startswith("@"):
        expanded = _ALIASES.get(text.lower())
        if expanded is None:
            known = ", ".join(sorted(_ALIASES))
            raise _fail(source, f"unknown alias; use one of {known}")
        text = expanded
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise _fail(
            source,
            "expected 5 fields (minute hour day-of-month month day-of-week) "
            f"or an alias such as @daily; got {len(parts)}",
        )
    minutes, hours, days_of_month, months, days_of_week = (
        _field(source, field, part) for field, part in zip(_FIELDS, parts, strict=True)
    )
    days_of_week = frozenset(day % 7 for day in days_of_week)
    parsed = CronExpression(
        source=source,
        minutes=minutes,
        hours=hours,
        days_of_month=days_of_month,
        months=months,
        days_of_week=days_of_week,
        day_of_month_restricted=days_of_month != _ALL_MONTH_DAYS,
        day_of_week_restricted=days_of_week != _ALL_WEEKDAYS,
    )
    _check_satisfiable(parsed)
    return parsed


def _as_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _first_at_least(values: list[int], floor: int) -> int | None:
    index = bisect_left(values, floor)
    return values[index] if index < len(values) else None


def _search(cron: CronExpression, start: datetime) -> datetime | None:
    """Find the first occurrence at or after ``start`` (a whole UTC minute), if any.

    Skips whole months, days and hours that cannot match, so a yearly or
    leap-day expression costs a few dozen steps rather than a minute-by-minute scan.
    """
    months, hours, minutes = sorted(cron.months), sorted(cron.hours), sorted(cron.minutes)
    year, month, day, hour, minute = start.year, start.month, start.day, start.hour, start.minute
    last_year = min(start.year + _SEARCH_YEARS, datetime.max.year)
    while year <= last_year:
        if month > 12 or month not in cron.months:
            following = _first_at_least(months, month) if month <= 12 else None
            if following is None:
                year, month = year + 1, months[0] if months else 1
            else:
                month = following
            day, hour, minute = 1, 0, 0
            continue
        if day > calendar.monthrange(year, month)[1]:
            month, day, hour, minute = month + 1, 1, 0, 0
            continue
        if not _day_matches(cron, year, month, day):
            day, hour, minute = day + 1, 0, 0
            continue
        next_hour = _first_at_least(hours, hour)
        if next_hour is None:
            day, hour, minute = day + 1, 0, 0
            continue
        if next_hour != hour:
            hour, minute = next_hour, 0
        next_minute = _first_at_least(minutes, minute)
        if next_minute is None:
            hour, minute = hour + 1, 0
            continue
        return datetime(year, month, day, hour, next_minute, tzinfo=timezone.utc)
    return None


def next_cron_occurrence(expr: str | CronExpression, after: datetime) -> datetime:
    """Return the first matching minute strictly after ``after``, as an aware UTC datetime.

    ``expr`` is an expression (parsed here) or a :class:`CronExpression`. A
    naive ``after`` means UTC; an aware one is converted to UTC. The result has
    zero seconds and microseconds, so ``12:00:30`` with ``*/15`` gives ``12:15``.
    """
    cron = expr if isinstance(expr, CronExpression) else parse_cron(expr)
    if not isinstance(after, datetime):
        raise ConfigError(
            f'cron "{cron.source}": after must be a datetime; got a {type(after).__name__}'
        )
    moment = _as_utc(after).replace(second=0, microsecond=0)
    try:
        start = moment + timedelta(minutes=1)
    except OverflowError:
        start = None  # after is the last minute a datetime can hold
    found = None if start is None else _search(cron, start)
    if found is None:
        limit = (
            "before the year 10000, where datetimes end"
            if moment.year + _SEARCH_YEARS > datetime.max.year
            else f"within {_SEARCH_YEARS} years"
        )
        raise _fail(
            cron.source,
            f"cannot be satisfied: no occurrence {limit} after {moment.isoformat()}",
        )
    return found
