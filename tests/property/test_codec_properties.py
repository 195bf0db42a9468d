"""Codec properties beyond the round trip in ``tests/test_codec.py``.

That file checks ``decode(encode(v))`` over generated plain data. These check what
the round trip does not: ``encode`` is a fixed point after one round trip;
``values_equal`` is an equivalence that says "equal" exactly when storage would
read back the same value (key order and time zone ignored, ``True``/``1``/``1.0``
and ``0.0``/``-0.0`` told apart); ``canonical`` is a faithful encoding of that
equality; and a refused value anywhere in a container is reported as a
``SerializationError`` at its exact path, never as another exception.
"""

from __future__ import annotations

import enum
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reflow_actors.codec import DATE_KEY, canonical, clone, decode, encode, to_plain, values_equal
from reflow_actors.errors import SerializationError

pytestmark = pytest.mark.timeout(120)

UTC = timezone.utc
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Colour(str, enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


offsets = st.builds(
    timezone, st.integers(-14 * 60, 14 * 60).map(lambda minutes: timedelta(minutes=minutes))
)
# Kept a day inside datetime's range; the edges have tests of their own below.
aware_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)
naive_datetimes = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.sampled_from([0, 1, -1, 0.0, -0.0, 1.0, True, False, "", "1", "true"])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | aware_datetimes
    | naive_datetimes
    | st.sampled_from([Colour.RED, Level.HIGH])
)
keys = st.text(max_size=6).filter(lambda key: key != DATE_KEY and key != "__reflowUndefined__")
plain_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=16,
)


def stored_equal(left: Any, right: Any) -> bool:
    """Equality of two *decoded* values as storage means it, written out independently.

    Types must match exactly (``True`` is not ``1``, ``1`` is not ``1.0``), the sign
    of a zero counts, dict key order does not, and datetimes are equal instants.
    """
    if isinstance(left, datetime) or isinstance(right, datetime):
        return isinstance(left, datetime) and isinstance(right, datetime) and left == right
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(stored_equal, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(stored_equal(left[k], right[k]) for k in left)
    if isinstance(left, float) and math.copysign(1, left) != math.copysign(1, right):
        return False
    return bool(left == right)


def reshaped(value: Any, shift: timedelta) -> Any:
    """The same value as storage sees it, written differently.

    Dict keys reversed, lists and tuples swapped, datetimes moved to another
    offset (the same instant), enum members replaced by their plain value.
    """
    if isinstance(value, dict):
        return {key: reshaped(value[key], shift) for key in reversed(list(value))}
    if isinstance(value, list):
        return tuple(reshaped(item, shift) for item in value)
    if isinstance(value, tuple):
        return [reshaped(item, shift) for item in value]
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        target = timezone(shift)
        moved = aware.astimezone(target)
        return (
            moved
            if datetime(1, 1, 2, tzinfo=UTC) <= moved <= datetime(9999, 12, 30, tzinfo=UTC)
            else value
        )
    if isinstance(value, enum.Enum):
        return value.value if not isinstance(value, int) else int(value)
    return value


def nudged(value: Any) -> tuple[Any, bool]:
    """``value`` with its first leaf changed into something storage tells apart.

    Returns the new value and whether a leaf was found to change (an empty
    container has none).
    """
    if isinstance(value, dict):
        for key in value:
            changed, done = nudged(value[key])
            if done:
                return {**value, key: changed}, True
        return {**value, "\x00extra": None}, True
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            changed, done = nudged(item)
            if done:
                items = list(value)
                items[index] = changed
                return items, True
        return [*value, None], True
    if value is None:
        return False, True
    if isinstance(value, bool):
        return int(value), True  # True -> 1, False -> 0: equal in Python, not in storage
    if isinstance(value, int):
        if abs(value) < 2**53:
            return float(value), True  # 1 -> 1.0
        return (value - 1 if value > 0 else value + 1), True
    if isinstance(value, float):
        if value == 0.0:
            return -value, True  # 0.0 <-> -0.0
        return (int(value) if value.is_integer() and abs(value) < 2**63 else value / 2), True
    if isinstance(value, str):
        return value + "x", True
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1 if value.year < 9999 else -1), True
    return value, False


@SETTINGS
@given(plain_data)
def test_encode_is_a_fixed_point_after_one_round_trip(value):
    once = clone(value)
    assert encode(once) == encode(value)
    assert stored_equal(clone(once), once)
    assert canonical(once) == canonical(value)


@SETTINGS
@given(plain_data, st.integers(-14 * 60, 14 * 60))
def test_values_equal_ignores_key_order_container_kind_and_time_zone(value, minutes):
    other = reshaped(value, timedelta(minutes=minutes))
    assert values_equal(value, value)
    assert values_equal(value, other)
    assert values_equal(other, value)
    assert values_equal(clone(other), value)
    assert canonical(other) == canonical(value)


@SETTINGS
@given(plain_data)
def test_values_equal_tells_apart_what_storage_tells_apart(value):
    changed, done = nudged(value)
    if not done:
        return
    assert stored_equal(clone(value), clone(value))
    assert not stored_equal(clone(changed), clone(value)), (changed, value)
    assert not values_equal(changed, value)
    assert not values_equal(value, changed)
    assert canonical(changed) != canonical(value)


@SETTINGS
@given(plain_data, plain_data)
def test_values_equal_agrees_with_equality_of_what_is_read_back(left, right):
    verdict = values_equal(left, right)
    assert verdict == values_equal(right, left)
    assert verdict == stored_equal(clone(left), clone(right))
    assert verdict == (canonical(left) == canonical(right))


@SETTINGS
@given(plain_data, plain_data, plain_data)
def test_values_equal_is_transitive(first, second, third):
    for a, b, c in (
        (first, second, third),
        (first, clone(first), reshaped(first, timedelta(hours=5))),
    ):
        if values_equal(a, b) and values_equal(b, c):
            assert values_equal(a, c)


@SETTINGS
@given(plain_data)
def test_canonical_text_decodes_to_an_equal_value(value):
    # canonical() is a comparison key; only where a datetime's UTC instant is
    # outside datetime's range is it not also a storable form.
    try:
        decoded = decode(canonical(value))
    except SerializationError:
        assert 'us"' in canonical(value).decode()
        return
    assert values_equal(decoded, value)
    assert canonical(decode(canonical(value))) == canonical(value)


# --- refusals: a bad value anywhere is a SerializationError at its exact path ----------

REFUSED_LEAVES = st.sampled_from(
    [
        {1, 2},
        frozenset(),
        b"bytes",
        bytearray(b"x"),
        float("nan"),
        float("inf"),
        -float("inf"),
        2**64,
        -(2**63) - 1,
        object(),
        datetime(2025, 1, 1).date(),
        "lone \ud800 surrogate",
        {DATE_KEY: "2025-01-01T00:00:00+00:00"},
        {"__reflowUndefined__": True},
        {3: "int key"},
    ]
)


def key_part(key: str) -> str:
    return f".{key}" if key.isidentifier() else f"[{orjson.dumps(key).decode()}]"


@st.composite
def containers_with_one_refused_value(draw):
    """A plain container with one refused value placed somewhere, and the path to it."""
    # A dict with a bad key is reported at the dict holding the key: the leaf's own path.
    bad = draw(REFUSED_LEAVES)
    depth = draw(st.integers(0, 4))
    value: Any = bad
    parts: list[str] = []
    for _ in range(depth):
        siblings = draw(st.lists(scalars, max_size=2))
        if draw(st.booleans()):
            key = draw(keys)
            others = {draw(keys): item for item in siblings}
            others.pop(key, None)
            items = list(others.items())
            position = draw(st.integers(0, len(items)))
            items.insert(position, (key, value))
            value = dict(items)
            parts.append(key_part(key))
        else:
            position = draw(st.integers(0, len(siblings)))
            items = list(siblings)
            items.insert(position, value)
            value = items if draw(st.booleans()) else tuple(items)
            parts.append(f"[{position}]")
    return value, "input" + "".join(reversed(parts)), bad


@SETTINGS
@given(containers_with_one_refused_value())
def test_a_refused_value_is_reported_at_its_path(case):
    value, path, bad = case
    # to_plain returns the JSON-ready form; only writing it as UTF-8 refuses a lone surrogate.
    surrogate = isinstance(bad, str)
    for refuse in (encode, canonical, clone) if surrogate else (encode, canonical, to_plain, clone):
        with pytest.raises(SerializationError) as caught:
            refuse(value, "input")
        assert caught.value.path == path, refuse.__name__
    with pytest.raises(SerializationError):
        values_equal(value, value)


@SETTINGS
@given(
    st.text(alphabet="ab\ud800\udfff", min_size=1, max_size=3).filter(
        lambda key: any("\ud800" <= char <= "\udfff" for char in key)
    ),
    REFUSED_LEAVES,
)
@example("\ud800", float("nan"))
def test_a_key_that_is_not_text_above_a_refused_value_is_a_serialization_error(key, bad):
    """Regression: the path of the inner refusal used to be built with orjson, which
    cannot write such a key, so encode raised orjson.JSONEncodeError (a TypeError)."""
    for refuse in (encode, canonical, clone):
        with pytest.raises(SerializationError) as caught:
            refuse({"outer": {key: [bad]}}, "input")
        assert caught.value.path.startswith("input.outer")


@SETTINGS
@given(
    st.sampled_from(
        [
            datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
            datetime(1, 1, 1, 0, 0, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        ]
    ),
    plain_data,
)
def test_values_at_the_edge_of_the_datetime_range_compare(when, other):
    """Regression: canonical moved stored datetimes to UTC, which overflowed for a
    storable datetime near year 1 or 9999 (OverflowError from values_equal)."""
    assert decode(encode(when)) == when
    assert values_equal(when, when)
    assert values_equal({"at": when, "x": other}, clone({"x": other, "at": when}))
    assert not values_equal(when, other) or stored_equal(clone(when), clone(other))


def test_one_instant_before_year_1_utc_in_two_offsets_is_one_value():
    one_hour = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    other_offset = datetime(1, 1, 1, 0, 45, tzinfo=timezone(timedelta(hours=1, minutes=15)))
    assert one_hour == other_offset
    assert decode(encode(one_hour)) == decode(encode(other_offset))
    assert values_equal(one_hour, other_offset)
