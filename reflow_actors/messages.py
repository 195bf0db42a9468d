"""Public messages for driving an engine from other pykka actors.

``engine.dispatcher`` is the Dispatcher's ``pykka.ActorRef``; ``tell`` it these
messages, or ``ask`` them (always with a timeout) for the result of the
matching engine method::

    run = engine.dispatcher.ask(Enqueue("order", {"order_id": "o-1"}), timeout=5)
    engine.dispatcher.tell(Cancel(run.id))

``ask`` returns what the method returns: ``Enqueue`` a ``WorkflowRun``,
``Cancel`` and ``SendEvent`` a ``bool``, ``Tick`` the number of runs it claimed.
``Tick`` claims at once whatever the poll interval and returns without waiting
for the runs to finish (an actor must not block on other actors' work);
``engine.tick()`` is the blocking form. An invalid message (unknown workflow,
bad input) raises its ``ReflowError`` from ``ask``; with ``tell`` the error goes
to the ``on_error`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .workflow import Workflow

__all__ = ["Cancel", "Enqueue", "SendEvent", "Tick"]


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Enqueue a run of ``workflow`` (a ``Workflow`` or its name) with ``input``."""

    workflow: Workflow[Any, Any] | str
    input: Any
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the run ``run_id``."""

    run_id: str


@dataclass(frozen=True, slots=True)
class SendEvent:
    """Deliver event ``name`` with ``payload`` to the run ``run_id``."""

    run_id: str
    name: str
    payload: Any = None


@dataclass(frozen=True, slots=True)
class Tick:
    """Claim runs now (pending, due, or stale) up to the free slots."""
