"""Deep read-only views of persisted values, for ``ctx.steps``.

The views subclass ``dict`` and ``list`` so they compare equal to plain data,
pass ``isinstance`` checks and can be returned from a step as its output; every
mutating method raises ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

__all__ = ["FrozenDict", "FrozenList", "freeze", "freeze_steps"]


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    del args, kwargs
    raise TypeError(f"{type(self).__name__} is read-only: ctx.steps never changes")


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses every change."""

    __slots__ = ()
    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        import copy  # noqa: PLC0415 - only needed by callers that deep-copy a view

        return {key: copy.deepcopy(value, memo) for key, value in self.items()}


class FrozenList(list[Any]):
    """A ``list`` that refuses every change."""

    __slots__ = ()
    __setitem__ = _refuse
    __delitem__ = _refuse
    __iadd__ = _refuse
    __imul__ = _refuse
    append = _refuse
    clear = _refuse
    extend = _refuse
    insert = _refuse
    pop = _refuse
    remove = _refuse
    reverse = _refuse
    sort = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        import copy  # noqa: PLC0415 - only needed by callers that deep-copy a view

        return [copy.deepcopy(value, memo) for value in self]


def freeze(value: Any) -> Any:
    """Return a deep read-only copy of a decoded persisted value."""
    if isinstance(value, dict):
        frozen = FrozenDict()
        for key, item in value.items():
            dict.__setitem__(frozen, key, freeze(item))
        return frozen
    if isinstance(value, list):
        items = FrozenList()
        for item in value:
            list.append(items, freeze(item))
        return items
    return value


def freeze_steps(outputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only mapping of step name to (already frozen) output."""
    return MappingProxyType(dict(outputs))
