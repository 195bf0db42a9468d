"""The persisted-value codec: plain data and datetimes through orjson, nothing else.

Persisted values (workflow input, step outputs, event payloads, ``complete()``
values, schedule input) are ``dict`` with ``str`` keys, ``list``, ``tuple``
(read back as ``list``), ``str``, ``int``, ``float``, ``bool``, ``None`` and
``datetime.datetime`` (read back as an equal, timezone-aware ``datetime``; a
naive one is taken as UTC). Subclasses of ``str``, ``int`` and ``float`` (enum
members, for instance) are stored as their plain value.

Anything else is refused with :class:`~reflow_actors.errors.SerializationError`
naming the path of the bad value, such as ``output.items[3]``: sets, bytes,
arbitrary objects, ``nan`` and infinities (which orjson would silently write as
``null``), integers beyond 64 bits, and dicts with non-``str`` keys. Encoding
happens before anything is written, so a refused value leaves storage untouched.

Datetimes are stored as ``{"__reflowDate__": "<ISO 8601>"}``, the same tagged
form reflow-ts uses, so the two can read each other's values.
"""

from __future__ import annotations

import math
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson

from .errors import SerializationError

__all__ = [
    "DATE_KEY",
    "UNDEFINED_KEY",
    "canonical",
    "clone",
    "decode",
    "encode",
    "to_plain",
    "values_equal",
]

DATE_KEY = "__reflowDate__"
UNDEFINED_KEY = "__reflowUndefined__"
_RESERVED = frozenset({DATE_KEY, UNDEFINED_KEY})
_DATE_MARK = DATE_KEY.encode()
_UNDEFINED_MARK = UNDEFINED_KEY.encode()
_YEAR_ONE = datetime(1, 1, 1)  # naive on purpose: arithmetic on wall-clock fields
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


class _Refused(Exception):  # noqa: N818 - internal control flow, never seen by users
    """Raised deep in the walk; collects the path on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str] = []


def _key_part(key: str) -> str:
    if key.isidentifier():
        return f".{key}"
    try:
        return f"[{orjson.dumps(key).decode()}]"
    except orjson.JSONEncodeError:  # a key that is not valid text itself
        return f"[{key!r}]"


def _refusal(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, (set, frozenset)):
        return f"a {kind} is not persistable plain data; use a list"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{kind} is not persistable plain data; decode it to str (or base64) first"
    if isinstance(value, date):
        return "a date is not persistable; use a datetime or an ISO string"
    if hasattr(value, "model_dump"):
        return f"a {kind} model is not plain data; return model.model_dump(mode='json')"
    if hasattr(value, "__dataclass_fields__"):
        return f"a {kind} dataclass is not plain data; return dataclasses.asdict(value)"
    return (
        f"a {kind} object is not persistable; use dict, list, str, int, float, bool, "
        "None or datetime"
    )


def _date_to_plain(value: datetime) -> dict[str, str]:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=timezone.utc)
    return {DATE_KEY: value.isoformat()}


def _plain(value: Any) -> Any:  # noqa: PLR0912 - one flat type dispatch, hot path
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int:
        if _INT_MIN <= value <= _INT_MAX:
            return value
        raise _Refused(f"integer {value} does not fit in 64 bits")
    if kind is float:
        if math.isfinite(value):
            return value
        raise _Refused(f"{value!r} is not persistable (NaN and infinities are refused)")
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                if not isinstance(key, str):
                    raise _Refused(f"dict key {key!r} is a {type(key).__name__}; keys must be str")
                key = str.__str__(key)  # noqa: PLW2901 - a str subclass key, stored plain
            if key in _RESERVED:
                raise _Refused(f'"{key}" is a reserved key')
            try:
                out[key] = _plain(item)
            except _Refused as refused:
                refused.parts.append(_key_part(key))
                raise
        return out
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        for index, item in enumerate(value):
            try:
                items.append(_plain(item))
            except _Refused as refused:
                refused.parts.append(f"[{index}]")
                raise
        return items
    if isinstance(value, datetime):
        return _date_to_plain(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return _plain(int(value))
    if isinstance(value, float):
        return _plain(float(value))
    raise _Refused(_refusal(value))


def to_plain(value: Any, path: str = "value") -> Any:
    """Return the JSON-ready form of ``value``, or raise ``SerializationError`` at ``path``.

    Tuples become lists and datetimes their tagged form; the input is not modified.
    """
    try:
        return _plain(value)
    except _Refused as refused:
        where = path + "".join(reversed(refused.parts))
        raise SerializationError(where, refused.reason) from None
    except RecursionError:
        raise SerializationError(
            path, "the value is nested too deeply (or contains itself)"
        ) from None


def _dumps(plain: Any, path: str, option: int = 0) -> bytes:
    try:
        return orjson.dumps(plain, option=option)
    except orjson.JSONEncodeError as error:
        # Strings orjson cannot write (lone surrogates): find where, for the message.
        where = _find_unencodable(plain, path) or path
        raise SerializationError(where, f"not valid UTF-8 text ({error})") from None


def _find_unencodable(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_unencodable(key, path) or _find_unencodable(item, path + _key_part(key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_unencodable(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


_recent = threading.local()


def encode(value: Any, path: str = "value") -> str:
    """Encode ``value`` to JSON text for storage; ``path`` names it in errors."""
    if value is not None and getattr(_recent, "value", None) is value:
        text: str = _recent.text
        _recent.value = _recent.text = None  # one use only
        return text
    return _dumps(to_plain(value, path), path).decode()


def encode_uncached(value: Any, path: str = "value") -> str:
    """:func:`encode`, never answered from what :func:`decode_fresh` remembered."""
    return _dumps(to_plain(value, path), path).decode()


def decode_fresh(text: str) -> Any:
    """Decode ``text`` and remember, on this thread, that the result encodes to it.

    The engine encodes a step's output to check it, decodes it to hand it on,
    and storage encodes that very object again to write it, on the same thread
    and with no user code in between: the next :func:`encode` of that object
    (and only the next) is a lookup instead of a second encoding.
    """
    value = decode(text)
    if isinstance(value, (dict, list)):
        _recent.value, _recent.text = value, text
    return value


def _instant(moment: datetime) -> str:
    """The moment in UTC, or (where UTC is outside datetime's range) microseconds from 0001."""
    try:
        return moment.astimezone(timezone.utc).isoformat()
    except OverflowError:
        pass
    offset = moment.utcoffset() or timedelta(0)
    since = moment.replace(tzinfo=None) - _YEAR_ONE - offset
    micros = (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds
    return f"{micros}us"


def _utc_dates(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(DATE_KEY), str):
            return {DATE_KEY: _instant(_parse_date(value[DATE_KEY]))}
        return {key: _utc_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_utc_dates(item) for item in value]
    return value


def canonical(value: Any, path: str = "value") -> bytes:
    """Encode with sorted keys at every depth: equal values give equal bytes.

    Datetimes are compared as instants: the same moment in two time zones is
    one canonical value.
    """
    plain = to_plain(value, path)
    text = _dumps(plain, path, orjson.OPT_SORT_KEYS)
    if _DATE_MARK in text:
        text = _dumps(_utc_dates(plain), path, orjson.OPT_SORT_KEYS)
    return text


def _revive(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            if DATE_KEY in value and isinstance(value[DATE_KEY], str):
                return _parse_date(value[DATE_KEY])
            if value.get(UNDEFINED_KEY) is True:
                return None
        return {key: _revive(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revive(item) for item in value]
    return value


def _parse_date(text: str) -> datetime:
    # reflow-ts writes a trailing "Z", which datetime.fromisoformat accepts only from 3.11.
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        raise SerializationError("value", f"invalid stored datetime {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def decode(data: str | bytes | None) -> Any:
    """Decode stored JSON text back to a fresh value (SQL ``NULL`` reads as ``None``)."""
    if data is None:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise SerializationError("value", f"stored JSON is corrupt: {error}") from error
    raw = data.encode() if isinstance(data, str) else data
    if _DATE_MARK in raw or _UNDEFINED_MARK in raw:
        return _revive(value)
    return value


def clone(value: Any, path: str = "value") -> Any:
    """Return a deep copy of ``value`` as it would read back from storage."""
    return decode(encode(value, path))


def values_equal(left: Any, right: Any) -> bool:
    """Deep equality of two persisted values as storage sees them (key order ignored).

    ``True`` and ``1`` differ here, as they do once stored, though Python's ``==``
    says otherwise.
    """
    return canonical(left) == canonical(right)
