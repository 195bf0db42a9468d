"""Schemas for workflow input and event payloads: pydantic, dataclasses, callables, None.

A schema does two jobs. At ``enqueue``/``send_event`` time :meth:`Schema.parse`
validates the caller's value and returns the plain data to persist. When a
handler runs, :meth:`Schema.load` turns the persisted data back into what the
handler expects (a model instance, a dataclass, or the data itself).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .codec import clone
from .errors import ConfigError, InputValidationError, ReflowError

__all__ = ["Schema", "schema_for"]


def _pydantic_issues(error: Exception) -> list[str] | None:
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return None
    try:
        details: Any = errors()
    except Exception:
        return None
    issues: list[str] = []
    for detail in details:
        location = ".".join(str(part) for part in detail.get("loc", ()))
        message = str(detail.get("msg", "invalid"))
        issues.append(f"{location}: {message}" if location else message)
    return issues


class Schema:
    """Validation and loading for one declared schema (``None`` accepts anything)."""

    __slots__ = ("_kind", "_target")

    def __init__(self, target: Any, *, what: str) -> None:
        if target is None:
            kind = "none"
        elif isinstance(target, type) and callable(getattr(target, "model_validate", None)):
            kind = "pydantic"
        elif isinstance(target, type) and dataclasses.is_dataclass(target):
            kind = "dataclass"
        elif callable(target):
            kind = "callable"
        else:
            raise ConfigError(
                f"{what} schema must be None, a pydantic model class, a dataclass type or a "
                f"callable; got {target!r}"
            )
        self._kind = kind
        self._target: Any = target

    @property
    def target(self) -> Any:
        """The schema object as declared."""
        return self._target

    def parse(self, value: Any, *, what: str, path: str) -> Any:
        """Validate ``value`` and return (a fresh copy of) the plain data to persist.

        Raises ``InputValidationError`` (what = ``"Workflow input"``, ...) with
        readable issues, or ``SerializationError`` if the validated value is
        not persistable.
        """
        kind = self._kind
        if kind == "none":
            validated = value
        elif kind == "pydantic":
            validated = self._parse_pydantic(value, what)
        elif kind == "dataclass":
            validated = self._parse_dataclass(value, what)
        else:
            validated = self._call(value, what)
        return clone(validated, path)

    def load(self, plain: Any) -> Any:
        """Turn persisted data back into what handlers receive."""
        kind = self._kind
        if kind == "pydantic":
            return self._target.model_validate(plain)
        if kind == "dataclass" and isinstance(plain, Mapping):
            return self._target(**plain)
        return plain

    def _parse_pydantic(self, value: Any, what: str) -> Any:
        target = self._target
        try:
            model = value if isinstance(value, target) else target.model_validate(value)
        except Exception as error:
            issues = _pydantic_issues(error) or [str(error)]
            raise InputValidationError(what, issues) from error
        return model.model_dump(mode="json")

    def _parse_dataclass(self, value: Any, what: str) -> Any:
        target = self._target
        if isinstance(value, target):
            return dataclasses.asdict(value)
        if not isinstance(value, Mapping):
            raise InputValidationError(
                what,
                [f"expected a mapping of {target.__name__} fields, got {type(value).__name__}"],
            )
        try:
            instance = target(**value)
        except (TypeError, ValueError) as error:
            raise InputValidationError(what, [str(error)]) from error
        return dataclasses.asdict(instance)

    def _call(self, value: Any, what: str) -> Any:
        validator: Callable[[Any], Any] = self._target
        try:
            result = validator(value)
        except ReflowError:
            raise
        except Exception as error:
            issues = _pydantic_issues(error) or [str(error) or type(error).__name__]
            raise InputValidationError(what, issues) from error
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise ConfigError(
                f"{what} schema returned an awaitable; schemas must validate synchronously"
            )
        return result


def schema_for(target: Any, *, what: str) -> Schema:
    """Build a :class:`Schema`, raising ``ConfigError`` for an unusable target."""
    return Schema(target, what=what)
