"""The immutable workflow builder and the frozen definitions it produces.

``create_workflow(name, input=Schema)`` starts an empty :class:`Workflow`;
every builder method returns a *new* workflow and leaves its receiver as it
was. Definitions are validated as they are built (names, durations, retry
policies), so a workflow that builds is one the engine can run.

``Workflow[InputT, PrevT]`` is generic in the input type its handlers receive
and in the output of its last unit, so a type checker sees each step's
``ctx.prev`` as the previous step's return type.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar, Union, overload

from ._schema import Schema
from .context import ConditionContext, FailureContext, StepContext
from .errors import ConfigError, DuplicateStepError
from .retry import Retry, positive_timeout
from .schedule import Duration, parse_duration

__all__ = [
    "Branch",
    "BranchUnit",
    "ParallelUnit",
    "SleepUnit",
    "StepUnit",
    "Unit",
    "WaitUnit",
    "Workflow",
    "create_workflow",
]

InputT = TypeVar("InputT")
PrevT = TypeVar("PrevT")
OutT = TypeVar("OutT")
EventT = TypeVar("EventT")
TypedT = TypeVar("TypedT")

Handler = Callable[[StepContext[Any, Any]], Any]
Predicate = Callable[[ConditionContext[Any, Any]], Any]
FailureHandler = Callable[[FailureContext[Any]], Any]


def _is_async(function: Callable[..., Any]) -> bool:
    call = getattr(function, "__call__", None)  # noqa: B004 - also detect async __call__ methods
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def _check_name(name: object, what: str, workflow: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f'{what} name in workflow "{workflow}" must be a non-empty str; got {name!r}'
        )
    return name


def _check_handler(handler: object, what: str) -> Callable[..., Any]:
    if not callable(handler):
        raise ConfigError(f"{what} handler must be callable; got {handler!r}")
    return handler


class _Attempts:
    """What a step and a branch share: attempts under a retry policy and a timeout."""

    __slots__ = ()
    timeout: float | None
    retry: Retry | None

    @property
    def attempt_timeout(self) -> float | None:
        """The unit's own timeout, else its retry policy's."""
        if self.timeout is not None:
            return self.timeout
        return self.retry.timeout if self.retry is not None else None


@dataclass(frozen=True, slots=True)
class StepUnit(_Attempts):
    """A sequential step: its handler, retry policy, per-attempt timeout and condition."""

    name: str
    handler: Handler
    retry: Retry | None = None
    timeout: float | None = None
    when: Predicate | None = None
    is_async: bool = False


@dataclass(frozen=True, slots=True)
class BranchUnit(_Attempts):
    """One branch of a parallel group."""

    name: str
    handler: Handler
    retry: Retry | None = None
    timeout: float | None = None
    is_async: bool = False


@dataclass(frozen=True, slots=True)
class ParallelUnit:
    """Branches that run concurrently; their outputs merge into ``{branch: output}``."""

    branches: tuple[BranchUnit, ...]

    @property
    def name(self) -> str:
        """A label for the group (its branch names joined with ``+``)."""
        return "+".join(branch.name for branch in self.branches)


@dataclass(frozen=True, slots=True)
class SleepUnit:
    """A durable pause of ``seconds``."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class WaitUnit:
    """A durable wait for the event ``name``, optionally validated and bounded."""

    name: str
    schema: Schema
    timeout: float | None = None


Unit = StepUnit | ParallelUnit | SleepUnit | WaitUnit


class Branch(Generic[InputT, PrevT, OutT]):
    """A parallel branch with its own ``retry`` and ``timeout``.

    Use it as a value in :meth:`Workflow.parallel` where a bare handler would
    not say enough: ``.parallel({"crm": Branch(sync_crm, retry=Retry(3), timeout=2)})``.
    Branches take no ``when``.
    """

    __slots__ = ("handler", "retry", "timeout")

    @overload
    def __init__(
        self,
        handler: Callable[[StepContext[InputT, PrevT]], Awaitable[OutT]],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        handler: Callable[[StepContext[InputT, PrevT]], OutT],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
    ) -> None: ...

    def __init__(
        self,
        handler: Callable[[StepContext[InputT, PrevT]], Any],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
        **unexpected: Any,
    ) -> None:
        if "when" in unexpected:
            raise ConfigError('Conditional "when" is not supported on a parallel branch')
        if unexpected:
            raise ConfigError(f"Branch() got unexpected options: {', '.join(sorted(unexpected))}")
        self.handler = _check_handler(handler, "Branch")
        if retry is not None and not isinstance(retry, Retry):
            raise ConfigError(f"Branch retry must be a Retry; got {retry!r}")
        self.retry = retry
        self.timeout = positive_timeout(timeout, "Branch timeout")


# Union, not "|": the alias is subscripted with type variables, which Python 3.10's
# runtime union type does not support.
BranchSpec = Union[  # noqa: UP007
    Callable[[StepContext[InputT, PrevT]], Awaitable[OutT]],
    Callable[[StepContext[InputT, PrevT]], OutT],
    Branch[InputT, PrevT, OutT],
]


@dataclass(frozen=True, slots=True)
class Workflow(Generic[InputT, PrevT]):
    """A frozen workflow definition; every builder method returns a new one.

    ``units`` are the steps, parallel groups, sleeps and waits in order.
    """

    name: str
    input_schema: Schema
    units: tuple[Unit, ...] = ()
    failure_handler: FailureHandler | None = None
    _names: frozenset[str] = field(default=frozenset(), repr=False)

    def _append(self, unit: Unit, names: list[str]) -> Any:
        taken = set(self._names)
        for name in names:
            if name in taken:
                raise DuplicateStepError(self.name, name)
            taken.add(name)
        return replace(self, units=(*self.units, unit), _names=frozenset(taken))

    @overload
    def step(
        self,
        name: str,
        handler: Callable[[StepContext[InputT, PrevT]], Awaitable[OutT]],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
        when: None = None,
    ) -> Workflow[InputT, OutT]: ...

    @overload
    def step(
        self,
        name: str,
        handler: Callable[[StepContext[InputT, PrevT]], OutT],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
        when: None = None,
    ) -> Workflow[InputT, OutT]: ...

    @overload
    def step(
        self,
        name: str,
        handler: Callable[[StepContext[InputT, PrevT]], Awaitable[OutT]],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
        when: Callable[[ConditionContext[InputT, PrevT]], bool | Awaitable[bool]],
    ) -> Workflow[InputT, OutT | PrevT]: ...

    @overload
    def step(
        self,
        name: str,
        handler: Callable[[StepContext[InputT, PrevT]], OutT],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
        when: Callable[[ConditionContext[InputT, PrevT]], bool | Awaitable[bool]],
    ) -> Workflow[InputT, OutT | PrevT]: ...

    def step(
        self,
        name: str,
        handler: Callable[[StepContext[InputT, PrevT]], Any],
        *,
        retry: Retry | None = None,
        timeout: Duration | None = None,
        when: Callable[[ConditionContext[InputT, PrevT]], Any] | None = None,
    ) -> Workflow[InputT, Any]:
        """Append a step whose output becomes the next unit's ``prev``.

        ``retry`` is a :class:`~reflow_actors.Retry`; ``timeout`` bounds each
        attempt; ``when`` is a (sync or async) predicate: ``False`` records the
        step ``skipped`` and passes ``prev`` through. It is evaluated once per
        run and the decision persisted.
        """
        name = _check_name(name, "Step", self.name)
        what = f'step "{name}"'
        function = _check_handler(handler, what)
        if retry is not None and not isinstance(retry, Retry):
            raise ConfigError(f"{what} retry must be a Retry; got {retry!r}")
        if when is not None and not callable(when):
            raise ConfigError(f"{what} when must be callable; got {when!r}")
        unit = StepUnit(
            name=name,
            handler=function,
            retry=retry,
            timeout=positive_timeout(timeout, f"{what} timeout"),
            when=when,
            is_async=_is_async(function),
        )
        return self._append(unit, [name])  # type: ignore[no-any-return]

    @overload
    def parallel(
        self,
        branches: Mapping[str, Callable[[StepContext[InputT, PrevT]], Awaitable[OutT]]],
        *,
        output: None = None,
    ) -> Workflow[InputT, dict[str, OutT]]: ...

    @overload
    def parallel(
        self,
        branches: Mapping[str, BranchSpec[InputT, PrevT, OutT]],
        *,
        output: None = None,
    ) -> Workflow[InputT, dict[str, OutT]]: ...

    @overload
    def parallel(
        self,
        branches: Mapping[str, BranchSpec[InputT, PrevT, Any]],
        *,
        output: type[TypedT],
    ) -> Workflow[InputT, TypedT]: ...

    def parallel(
        self,
        branches: Mapping[str, object],
        *,
        output: type[Any] | None = None,
    ) -> Workflow[InputT, Any]:
        """Append a group of branches that run concurrently.

        Values are handlers or :class:`Branch` objects; the next unit's ``prev``
        is ``{branch_name: output}``. ``output=`` names a ``TypedDict`` (or other
        type) for that dict when the branches return different types; it only
        informs the type checker. (A dict literal that mixes bare handlers and
        ``Branch`` objects needs ``output=``, or every value wrapped in
        ``Branch``: type checkers join its values to ``object``.) The group is
        fail-fast: the first branch to fail aborts its siblings' signals and
        fails the run.
        """
        del output
        if not isinstance(branches, Mapping):
            raise ConfigError(f'parallel() in workflow "{self.name}" takes a dict of branches')
        if not branches:
            raise ConfigError(f'parallel() in workflow "{self.name}" requires at least one branch')
        units: list[BranchUnit] = []
        for key, spec in branches.items():
            name = _check_name(key, "Branch", self.name)
            if isinstance(spec, Branch):
                function = spec.handler
                unit = BranchUnit(name, function, spec.retry, spec.timeout, _is_async(function))
            else:
                function = _check_handler(spec, f'branch "{name}"')
                unit = BranchUnit(name, function, is_async=_is_async(function))
            units.append(unit)
        return self._append(  # type: ignore[no-any-return]
            ParallelUnit(tuple(units)), [unit.name for unit in units]
        )

    def sleep(self, name: str, duration: Duration) -> Workflow[InputT, PrevT]:
        """Append a durable sleep; the run is parked with no process held for it.

        ``prev`` passes through. Any engine resumes the run once it is due.
        """
        name = _check_name(name, "Sleep", self.name)
        seconds = parse_duration(duration, what=f'sleep "{name}" duration')
        return self._append(SleepUnit(name, seconds), [name])  # type: ignore[no-any-return]

    @overload
    def wait_for_event(
        self, name: str, schema: None = None, timeout: Duration | None = None
    ) -> Workflow[InputT, Any]: ...

    @overload
    def wait_for_event(
        self, name: str, schema: type[EventT], timeout: Duration | None = None
    ) -> Workflow[InputT, EventT]: ...

    @overload
    def wait_for_event(
        self, name: str, schema: Callable[[Any], EventT], timeout: Duration | None = None
    ) -> Workflow[InputT, EventT]: ...

    def wait_for_event(
        self, name: str, schema: Any = None, timeout: Duration | None = None
    ) -> Workflow[InputT, Any]:
        """Append a durable wait for ``engine.send_event(run_id, name, payload)``.

        The (validated) payload becomes the next unit's ``prev``. Events sent
        before the run gets here are buffered. With ``timeout`` the run fails
        with ``WaitTimeoutError`` if no event arrives in time.
        """
        name = _check_name(name, "Event", self.name)
        unit = WaitUnit(
            name,
            Schema(schema, what=f'wait_for_event "{name}"'),
            positive_timeout(timeout, f'wait_for_event "{name}" timeout'),
        )
        return self._append(unit, [name])  # type: ignore[no-any-return]

    def on_failure(
        self, handler: Callable[[FailureContext[InputT]], Any]
    ) -> Workflow[InputT, PrevT]:
        """Set the handler called once when a run of this workflow fails.

        It receives a :class:`~reflow_actors.FailureContext`. What it raises is
        reported to the ``on_error`` hook as ``HookError``; it never changes the
        run. A later call replaces the handler.
        """
        function = _check_handler(handler, f'on_failure of workflow "{self.name}"')
        return replace(self, failure_handler=function)

    @property
    def wait_names(self) -> frozenset[str]:
        """Names of this workflow's ``wait_for_event`` units."""
        return frozenset(unit.name for unit in self.units if isinstance(unit, WaitUnit))

    def wait_unit(self, name: str) -> WaitUnit | None:
        """The ``wait_for_event`` unit called ``name``, if any."""
        for unit in self.units:
            if isinstance(unit, WaitUnit) and unit.name == name:
                return unit
        return None


@overload
def create_workflow(name: str, input: None = None) -> Workflow[Any, None]: ...


@overload
def create_workflow(name: str, input: type[InputT]) -> Workflow[InputT, None]: ...


@overload
def create_workflow(name: str, input: Callable[[Any], InputT]) -> Workflow[InputT, None]: ...


def create_workflow(name: str, input: Any = None) -> Workflow[Any, None]:
    """Start a workflow called ``name`` whose input is validated by ``input``.

    ``input`` is ``None`` (no validation), a pydantic v2 model class (handlers
    get the model; storage gets ``model_dump(mode="json")``), a dataclass type
    (built with ``T(**value)``), or a callable ``value -> validated value`` that
    raises on bad input.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"Workflow name must be a non-empty str; got {name!r}")
    return Workflow(name=name, input_schema=Schema(input, what=f'workflow "{name}" input'))
