"""Driver-error translation: what users see from storage is a ``ReflowError``, never a driver's.

Two tools live here:

* :func:`translate_errors` decorates a method of our own adapters: any exception
  that is not a :class:`~reflow_actors.errors.ReflowError` leaving it becomes
  ``StorageError(operation=<method name>, detail=<driver message>)`` raised
  ``from`` the original, so ``__cause__`` keeps the driver's error.
* :func:`translated` wraps *any* adapter (a user's, for instance) in a proxy that
  does the same for every Protocol method. The proxy has each optional method
  (``claim_runs``, ``save_progress``, ``cancel_run``, ``consume_event``,
  ``subscribe_wakeups``) only when the wrapped adapter has it, so ``hasattr``
  and ``isinstance(proxy, SupportsClaimBatch)`` answer as they would for the
  adapter itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from reflow_actors.errors import ReflowError, StorageError
from reflow_actors.storage.base import (
    StorageAdapter,
    SupportsCancel,
    SupportsClaimBatch,
    SupportsConsumeEvent,
    SupportsProgress,
    SupportsWakeups,
)

__all__ = ["closed_error", "storage_error", "translate_errors", "translated"]

P = ParamSpec("P")
R = TypeVar("R")

_PROTOCOL_METHODS = (
    "initialize",
    "create_run",
    "claim_next_run",
    "heartbeat_run",
    "get_run",
    "get_step_results",
    "save_step_result",
    "update_run_status",
    "update_claimed_run_status",
    "sleep_run",
    "wait_run",
    "deliver_event",
    "take_event",
    "list_runs",
    "requeue_run",
    "upsert_schedule",
    "claim_due_schedule",
    "delete_schedule",
    "list_schedules",
    "close",
)
_OPTIONAL_METHODS: dict[str, type] = {
    "claim_runs": SupportsClaimBatch,
    "save_progress": SupportsProgress,
    "cancel_run": SupportsCancel,
    "consume_event": SupportsConsumeEvent,
    "subscribe_wakeups": SupportsWakeups,
}


def storage_error(operation: str, error: BaseException) -> StorageError:
    """Build a ``StorageError`` for ``operation`` whose message carries ``error``'s message.

    The caller raises it ``from error``; the message matters because a step's
    persisted error is a plain string and the cause chain does not survive that.
    """
    detail = str(error) or type(error).__name__
    return StorageError(operation, detail)


def closed_error(operation: str) -> StorageError:
    """Build the error every method raises once its adapter is closed."""
    return StorageError(operation, "storage is closed")


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Decorate an adapter method so foreign exceptions leave it as ``StorageError``.

    The operation is the method's name. ``ReflowError`` passes through unchanged
    (``SerializationError``, ``ConfigError``, an already translated ``StorageError``).
    """
    operation = method.__name__

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except ReflowError:
            raise
        except Exception as error:
            raise storage_error(operation, error) from error

    return wrapper


def _forward(name: str, protocol: type) -> Callable[..., Any]:
    """Build a proxy method calling ``name`` on the wrapped adapter, translating its errors."""

    def forward(self: _Translated, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.wrapped, name)(*args, **kwargs)
        except ReflowError:
            raise
        except Exception as error:
            raise storage_error(name, error) from error

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = getattr(protocol, name).__doc__
    return forward


class _Translated:
    """Proxy for a storage adapter: same methods, foreign errors become ``StorageError``."""

    _REFLOW_TRANSLATES_ERRORS = True

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def __repr__(self) -> str:
        return f"translated({self.wrapped!r})"


for _name in _PROTOCOL_METHODS:
    setattr(_Translated, _name, _forward(_name, StorageAdapter))

_PROXY_CLASSES: dict[tuple[str, ...], type[_Translated]] = {}


def _proxy_class(optional: tuple[str, ...]) -> type[_Translated]:
    cls = _PROXY_CLASSES.get(optional)
    if cls is None:
        namespace = {name: _forward(name, _OPTIONAL_METHODS[name]) for name in optional}
        suffix = "".join(part.title().replace("_", "") for part in optional)
        cls = type(f"_Translated{suffix}", (_Translated,), namespace)
        _PROXY_CLASSES[optional] = cls
    return cls


def translated(adapter: StorageAdapter) -> StorageAdapter:
    """Wrap ``adapter`` so every method's foreign exceptions become ``StorageError``.

    The engine calls this on the adapter it is given. Adapters that already
    translate their own errors (``SQLiteStorage``, ``MemoryStorage``, or a proxy
    returned by this function) are returned as they are. The proxy exposes the
    original as ``.wrapped`` and forwards each optional method (``claim_runs``,
    ``save_progress``, ``cancel_run``, ``consume_event``, ``subscribe_wakeups``)
    only when ``adapter`` has it.
    """
    if getattr(type(adapter), "_REFLOW_TRANSLATES_ERRORS", False):
        return adapter
    optional = tuple(name for name in _OPTIONAL_METHODS if callable(getattr(adapter, name, None)))
    return cast(StorageAdapter, _proxy_class(optional)(adapter))
