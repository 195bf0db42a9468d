"""Loading the user's engine from a ``module:attribute`` reference (``worker``, ``--app``).

The attribute is an :class:`~reflow_actors.Engine` or a zero-argument callable
returning one; ``module`` alone means ``module:engine``. The current directory
is importable, as it is for ``python -m``, so ``reflow worker app:engine`` finds
``./app.py``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from ..engine import Engine, create_engine
from ..errors import describe_error
from ..storage.base import StorageAdapter
from .errors import CliError, ExitCode

__all__ = ["load_engine", "validating_engine"]


def _invalid(message: str) -> CliError:
    return CliError(message, ExitCode.INVALID)


def _import(module_name: str) -> Any:
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and (
            module_name == error.name or module_name.startswith(error.name + ".")
        ):
            raise _invalid(
                f"cannot import {module_name!r}: no module named {error.name!r} "
                f"(looked in {cwd} and on sys.path)"
            ) from None
        raise _invalid(f"importing {module_name!r} raised {describe_error(error)}") from error
    except Exception as error:
        raise _invalid(f"importing {module_name!r} raised {describe_error(error)}") from error


def load_engine(reference: str) -> Engine:
    """Import ``module:attribute`` and return the engine it names (or builds)."""
    module_name, _, attribute = reference.partition(":")
    attribute = attribute or "engine"
    if not module_name or not all(part.isidentifier() for part in attribute.split(".")):
        raise _invalid(f"expected module:attribute (like app:engine), got {reference!r}")
    found: Any = _import(module_name)
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise _invalid(f"{module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(found, Engine) and callable(found):
        try:
            found = found()
        except Exception as error:
            raise _invalid(f"calling {reference} raised {describe_error(error)}") from error
    if not isinstance(found, Engine):
        raise _invalid(
            f"{reference} is a {type(found).__name__}, not an Engine "
            "(or a function with no arguments that returns one)"
        )
    return found


def validating_engine(app: Engine, storage: StorageAdapter) -> Engine:
    """An engine (never started) with ``app``'s workflows on ``storage``.

    ``resume`` and ``send_event`` through it check the run against the
    workflow definitions and write to the database the command was given.
    """
    return create_engine(storage=storage, workflows=list(app.workflows.values()))
