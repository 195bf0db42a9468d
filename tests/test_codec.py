"""The persisted-value codec: plain data and datetimes in, refusals with a path (reflow-ts CO)."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections import OrderedDict, namedtuple
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflow_actors.codec import (
    DATE_KEY,
    UNDEFINED_KEY,
    canonical,
    clone,
    decode,
    encode,
    to_plain,
    values_equal,
)
from reflow_actors.errors import SerializationError

UTC = timezone.utc


def roundtrip(value):
    return decode(encode(value))


# --- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "hello",
        "",
        "é☃\U0001f600",
        42,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**64 - 1,
        1.5,
        -0.25,
        1e308,
        5e-324,
        True,
        False,
        None,
    ],
)
def test_primitives_roundtrip(value):
    result = roundtrip(value)
    assert result == value
    assert type(result) is type(value)


def test_nested_roundtrip():
    value = {"a": [1, "two", None, {"nested": True}], "b": {"c": {"d": [[], {}]}}, "e": 1.0}
    result = roundtrip(value)
    assert result == value
    assert type(result["e"]) is float


def test_tuple_becomes_list():
    assert roundtrip((1, (2, 3), [4, (5,)])) == [1, [2, 3], [4, [5]]]
    assert roundtrip({"xs": ()}) == {"xs": []}
    point = namedtuple("point", "x y")(1, 2)  # a tuple subclass
    assert roundtrip(point) == [1, 2]


def test_dict_subclasses_are_plain_dicts():
    result = roundtrip(OrderedDict([("b", 1), ("a", 2)]))
    assert result == {"b": 1, "a": 2}
    assert type(result) is dict


def test_encode_does_not_modify_input():
    value = {"when": datetime(2025, 6, 15, 12), "xs": (1, 2)}
    encode(value)
    assert value == {"when": datetime(2025, 6, 15, 12), "xs": (1, 2)}


# --- datetimes -----------------------------------------------------------------------


def test_aware_utc_datetime_roundtrips():
    when = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    result = roundtrip(when)
    assert result == when
    assert result.tzinfo is not None
    assert result.utcoffset() == timedelta(0)


def test_non_utc_offset_comes_back_equal_and_aware():
    plus2 = timezone(timedelta(hours=2))
    when = datetime(2025, 6, 15, 14, 0, tzinfo=plus2)
    result = roundtrip(when)
    assert result == when  # the same instant
    assert result == datetime(2025, 6, 15, 12, tzinfo=UTC)
    assert result.utcoffset() is not None


def test_zoneinfo_datetime_comes_back_equal():
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        paris = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database")
    when = datetime(2025, 7, 1, 9, 30, tzinfo=paris)
    assert roundtrip(when) == when


def test_naive_datetime_is_taken_as_utc():
    result = roundtrip(datetime(2025, 6, 15, 12, 0))
    assert result == datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    assert result.tzinfo is not None


def test_microseconds_are_kept():
    when = datetime(2025, 6, 15, 12, 0, 0, 123_456, tzinfo=UTC)
    assert roundtrip(when).microsecond == 123_456
    assert roundtrip(datetime(2025, 6, 15, 12, 0, 0, 1)).microsecond == 1


def test_datetimes_inside_containers():
    when = datetime(2025, 6, 15, 12, tzinfo=UTC)
    value = {"at": when, "list": [when, {"deep": (when,)}]}
    result = roundtrip(value)
    assert result == {"at": when, "list": [when, {"deep": [when]}]}
    assert isinstance(result["list"][1]["deep"][0], datetime)


def test_datetime_is_stored_in_tagged_form():
    stored = orjson.loads(encode({"at": datetime(2025, 6, 15, 12, tzinfo=UTC)}))
    assert list(stored["at"]) == [DATE_KEY]
    assert datetime.fromisoformat(stored["at"][DATE_KEY]) == datetime(2025, 6, 15, 12, tzinfo=UTC)


def test_reads_reflow_ts_date():
    result = decode('{"__reflowDate__": "2025-06-15T12:00:00.000Z"}')
    assert result == datetime(2025, 6, 15, 12, tzinfo=UTC)
    assert result.tzinfo is not None
    nested = decode('{"a": [{"__reflowDate__": "2025-06-15T12:00:00.500Z"}]}')
    assert nested == {"a": [datetime(2025, 6, 15, 12, 0, 0, 500_000, tzinfo=UTC)]}


def test_reads_reflow_ts_undefined_as_none():
    assert decode('{"__reflowUndefined__": true}') is None
    assert decode('{"a": {"__reflowUndefined__": true}, "b": [{"__reflowUndefined__": true}]}') == {
        "a": None,
        "b": [None],
    }


def test_tag_lookalikes_are_left_alone():
    # Only an object whose *only* key is the tag (with the right value type) is revived.
    assert decode('{"__reflowUndefined__": false}') == {UNDEFINED_KEY: False}
    assert decode('{"__reflowDate__": 5}') == {DATE_KEY: 5}
    assert decode('{"__reflowDate__": "2025-06-15T12:00:00Z", "x": 1}') == {
        DATE_KEY: "2025-06-15T12:00:00Z",
        "x": 1,
    }
    assert decode('"__reflowDate__"') == "__reflowDate__"


def test_invalid_stored_date_is_serialization_error():
    with pytest.raises(SerializationError, match="datetime"):
        decode('{"__reflowDate__": "not a date"}')


# --- subclasses of str / int / float -------------------------------------------------


class Color(str, enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Ratio(float):
    pass


class Name(str):
    pass


def test_str_int_float_subclasses_are_stored_plain():
    result = roundtrip(
        {"color": Color.RED, "level": Level.HIGH, "ratio": Ratio(0.5), "n": Name("x")}
    )
    assert result == {"color": "red", "level": 3, "ratio": 0.5, "n": "x"}
    assert type(result["color"]) is str
    assert type(result["level"]) is int
    assert type(result["ratio"]) is float
    assert type(result["n"]) is str
    assert type(to_plain(Color.RED)) is str
    assert type(to_plain(Level.HIGH)) is int


def test_str_subclass_key_is_stored_plain():
    result = to_plain({Color.RED: 1, Name("k"): 2})
    assert result == {"red": 1, "k": 2}
    assert all(type(key) is str for key in result)


def test_int_subclass_beyond_64_bits_refused():
    class Big(int):
        pass

    with pytest.raises(SerializationError) as caught:
        to_plain({"n": Big(2**64)}, "output")
    assert caught.value.path == "output.n"


def test_float_subclass_nan_refused():
    with pytest.raises(SerializationError) as caught:
        to_plain([Ratio("nan")], "output")
    assert caught.value.path == "output[0]"


# --- refusals with exact paths ---------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int


class Model(pydantic.BaseModel):
    x: int


class Plain(enum.Enum):
    A = 1


REFUSED = [
    ({1, 2}, "set"),
    (frozenset({1}), "frozenset"),
    (b"bytes", "bytes"),
    (bytearray(b"x"), "bytearray"),
    (object(), "object"),
    (Point(1), "dataclass"),
    (Model(x=1), "model"),
    (date(2025, 6, 15), "date"),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    (float("-inf"), "-inf"),
    (2**64, "above 64 bits"),
    (-(2**63) - 1, "below 64 bits"),
    (10**100, "huge int"),
    (Decimal("1.5"), "decimal"),
    (Plain.A, "plain enum"),
    (len, "function"),
    (timedelta(seconds=1), "timedelta"),
    ({1: "x"}, "int key"),
    ({(1, 2): "x"}, "tuple key"),
    ({None: "x"}, "None key"),
    ({1.5: "x"}, "float key"),
]


@pytest.mark.parametrize(("value", "label"), REFUSED, ids=[label for _, label in REFUSED])
def test_refusals_at_top_level(value, label):
    with pytest.raises(SerializationError) as caught:
        encode(value, "output")
    assert caught.value.path == "output"
    assert str(caught.value).startswith("Cannot persist output: ")
    assert caught.value.code == "SERIALIZATION"


@pytest.mark.parametrize(("value", "label"), REFUSED, ids=[label for _, label in REFUSED])
def test_refusals_nested(value, label):
    with pytest.raises(SerializationError) as caught:
        encode({"items": [1, 2, 3, value]}, "output")
    assert caught.value.path == "output.items[3]"


def test_nested_path_through_dicts_and_lists():
    with pytest.raises(SerializationError) as caught:
        encode({"user": {"name": "a", "tags": [{"x"}]}}, "output")
    assert caught.value.path == "output.user.tags[0]"
    assert "output.user.tags[0]" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a b": {1}}, 'output["a b"]'),
        ({"1x": {1}}, 'output["1x"]'),
        ({"": {1}}, 'output[""]'),
        ({'q"uote': {1}}, 'output["q\\"uote"]'),
        ({"ok": {"a-b": [0, {2}]}}, 'output.ok["a-b"][1]'),
        ({"é": {1}}, "output.é"),  # a unicode identifier reads as an attribute
    ],
)
def test_keys_that_are_not_identifiers_are_bracketed(value, path):
    with pytest.raises(SerializationError) as caught:
        encode(value, "output")
    assert caught.value.path == path


def test_bad_key_path_names_the_dict_holding_it():
    with pytest.raises(SerializationError) as caught:
        encode({"a": {"b": {1: "x"}}}, "input")
    assert caught.value.path == "input.a.b"
    assert "key" in caught.value.reason


def test_default_path_is_value():
    with pytest.raises(SerializationError) as caught:
        encode([{1}])
    assert caught.value.path == "value[0]"


def test_first_bad_value_is_reported():
    with pytest.raises(SerializationError) as caught:
        encode([1, {2}, b"x"], "output")
    assert caught.value.path == "output[1]"


@pytest.mark.parametrize("special", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_refused_where_orjson_would_write_null(special):
    assert orjson.dumps(special) == b"null"  # the silent corruption we guard against
    with pytest.raises(SerializationError, match="NaN"):
        encode({"x": special}, "output")


def test_model_refusal_suggests_model_dump():
    with pytest.raises(SerializationError, match="model_dump"):
        encode(Model(x=1), "output")


def test_dataclass_refusal_suggests_asdict():
    with pytest.raises(SerializationError, match="asdict"):
        encode(Point(1), "output")


def test_date_refusal_mentions_datetime():
    with pytest.raises(SerializationError, match="datetime"):
        encode(date(2025, 6, 15), "output")


def test_set_refusal_suggests_list():
    with pytest.raises(SerializationError, match="list"):
        encode({1}, "output")


def test_64_bit_boundaries():
    assert roundtrip(2**64 - 1) == 2**64 - 1
    assert roundtrip(-(2**63)) == -(2**63)
    with pytest.raises(SerializationError, match="64 bits"):
        encode(2**64, "output")
    with pytest.raises(SerializationError, match="64 bits"):
        encode(-(2**63) - 1, "output")


@pytest.mark.parametrize("reserved", [DATE_KEY, UNDEFINED_KEY])
def test_reserved_keys_refused(reserved):
    with pytest.raises(SerializationError, match="reserved") as caught:
        encode({"a": [{reserved: "2025-06-15T12:00:00Z"}]}, "output")
    assert caught.value.path == "output.a[0]"
    with pytest.raises(SerializationError, match="reserved"):
        encode({reserved: True}, "output")


def test_self_referencing_list_is_serialization_error():
    loop: list[object] = [1]
    loop.append(loop)
    with pytest.raises(SerializationError) as caught:
        encode(loop, "output")
    assert caught.value.path == "output"
    assert not isinstance(caught.value, RecursionError)


def test_self_referencing_dict_is_serialization_error():
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(SerializationError):
        canonical(loop, "input")


def test_lone_surrogate_is_serialization_error():
    with pytest.raises(SerializationError) as caught:
        encode({"name": "\ud800"}, "output")
    assert caught.value.path == "output.name"


# --- decode ------------------------------------------------------------------------------


def test_decode_none_is_none():
    assert decode(None) is None


def test_decode_accepts_bytes():
    assert decode(b'{"a": [1, 2]}') == {"a": [1, 2]}
    assert decode(encode(datetime(2025, 6, 15, 12, tzinfo=UTC)).encode()) == datetime(
        2025, 6, 15, 12, tzinfo=UTC
    )


@pytest.mark.parametrize("corrupt", ["{", "", "nope", '{"a": }', b"\xff\xfe", "[1, 2"])
def test_decode_corrupt_json_is_serialization_error(corrupt):
    with pytest.raises(SerializationError, match="corrupt"):
        decode(corrupt)


def test_decode_returns_fresh_values():
    stored = encode({"a": [1]})
    first = decode(stored)
    first["a"].append(2)
    assert decode(stored) == {"a": [1]}


# --- clone -------------------------------------------------------------------------------


def test_clone_is_a_deep_copy():
    when = datetime(2025, 6, 15, 12, tzinfo=UTC)
    value = {"a": [1, {"b": [2]}], "at": when}
    copied = clone(value)
    assert copied == value
    assert copied is not value
    assert copied["a"] is not value["a"]
    assert copied["a"][1] is not value["a"][1]
    copied["a"][1]["b"].append(3)
    assert value == {"a": [1, {"b": [2]}], "at": when}


def test_clone_reads_back_as_storage_would():
    assert clone({"xs": (1, 2), "at": datetime(2025, 6, 15, 12)}) == {
        "xs": [1, 2],
        "at": datetime(2025, 6, 15, 12, tzinfo=UTC),
    }


def test_clone_refuses_with_path():
    with pytest.raises(SerializationError) as caught:
        clone({"x": {1}}, "payload")
    assert caught.value.path == "payload.x"


# --- values_equal / canonical --------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": 1}, {"a": 1}),
        ({"b": 2, "a": 1}, {"a": 1, "b": 2}),
        ({"a": {"y": 1, "x": [1, {"q": 1, "p": 2}]}}, {"a": {"x": [1, {"p": 2, "q": 1}], "y": 1}}),
        ([1, 2, 3], (1, 2, 3)),  # a tuple is stored as a list
        (None, None),
        (42, 42),
        ("hello", "hello"),
        (datetime(2025, 6, 15, 12), datetime(2025, 6, 15, 12, tzinfo=UTC)),  # naive is UTC
        (Color.RED, "red"),
        (Level.HIGH, 3),
    ],
)
def test_values_equal_true(left, right):
    assert values_equal(left, right)
    assert values_equal(right, left)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": 1}, {"a": 2}),
        ([1, 2, 3], [1, 2]),
        ([1, 2], [2, 1]),
        (1, "1"),
        ([1], {"0": 1}),
        (None, {}),
        (None, 0),
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"a": None}, {}),
        (True, False),
        (True, 1),  # Python says True == 1; stored they differ ("true" vs "1")
        (False, 0),
        ({"a": {"b": [1]}}, {"a": {"b": [True]}}),
        # 1 and 1.0 differ: values_equal compares values "as storage sees them", and
        # they are stored as "1" and "1.0" and read back as an int and a float.
        (1, 1.0),
        ({"n": 0}, {"n": 0.0}),
    ],
)
def test_values_equal_false(left, right):
    assert not values_equal(left, right)
    assert not values_equal(right, left)


def test_values_equal_compares_datetimes_as_instants():
    plus_two = timezone(timedelta(hours=2))
    assert values_equal(
        datetime(2025, 6, 15, 14, tzinfo=plus_two), datetime(2025, 6, 15, 12, tzinfo=UTC)
    )
    assert not values_equal(
        datetime(2025, 6, 15, 14, tzinfo=plus_two), datetime(2025, 6, 15, 14, tzinfo=UTC)
    )


def test_values_equal_nested_deep():
    left = {"a": {"b": [1, {"c": [datetime(2025, 6, 15, 12, tzinfo=UTC)]}]}}
    right = {"a": {"b": [1, {"c": [datetime(2025, 6, 15, 12, 0, 1, tzinfo=UTC)]}]}}
    assert values_equal(left, clone(left))
    assert not values_equal(left, right)


def test_values_equal_refuses_non_persistable():
    with pytest.raises(SerializationError):
        values_equal({1}, {1})


def test_canonical_sorts_keys_at_every_depth():
    assert canonical({"b": {"d": 1, "c": 2}, "a": [{"z": 1, "y": 2}]}) == (
        b'{"a":[{"y":2,"z":1}],"b":{"c":2,"d":1}}'
    )


# --- property: round trip of generated plain data -------------------------------------

offsets = st.builds(
    timezone, st.integers(-14 * 60, 14 * 60).map(lambda minutes: timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | aware_datetimes
)
plain_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _as_stored(value):
    """What a value should read back as: tuples become lists, nothing else changes."""
    if isinstance(value, (list, tuple)):
        return [_as_stored(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_stored(item) for key, item in value.items()}
    return value


def _strictly_equal(left, right) -> bool:
    """Equality that also tells True from 1 and 1 from 1.0."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_strictly_equal, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_strictly_equal(left[k], right[k]) for k in left)
    if isinstance(left, float) and math.copysign(1, left) != math.copysign(1, right):
        return False
    return left == right


@settings(max_examples=150, deadline=None)
@given(plain_data)
def test_property_roundtrip(value):
    result = decode(encode(value, "value"))
    assert _strictly_equal(result, _as_stored(value))
    assert values_equal(result, value)
    assert canonical(result) == canonical(value)
