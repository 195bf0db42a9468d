"""The run program: one run's path through its workflow, as a generator of effects.

The RunSupervisor drives it (see ``_driver``). In order, the program replays
what storage recorded (completed steps and branches never run again), runs
each remaining unit, persists every result before the next unit starts (in
the same transaction as the next unit's attempt marker, or as the run's final
status), emits lifecycle events after each write, and ends the run
``completed``, ``failed`` or suspended. A control-flow abort (cancel, stop,
lost lease) unwinds it with nothing more written.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import codec
from .._frozen import freeze
from ..context import FailureContext
from ..errors import (
    HookError,
    LeaseExpiredError,
    RunControlError,
    SerializationError,
    StorageError,
    describe_error,
)
from ..events import Event, RunComplete, RunFailed, RunStart
from ..records import RunStatus, StepResult, StepStatus
from ._base import tell_quietly
from ._markers import markers_for
from ._messages import Delay, Execute, Executed, RunOutcome, RunSettling
from ._outcomes import PASS, Fail, Finish, Replayed, Suspend
from ._units import UnitRunner

if TYPE_CHECKING:
    from ..storage.base import ClaimedRun
    from ..workflow import Workflow
    from ._runtime import ActiveRun, Runtime

__all__ = ["RunProgram"]

Effects = Generator[Any, Any, Any]
_SAVE_ATTEMPTS = 8


class RunProgram(UnitRunner):
    """Drives one claimed run from its first unfinished unit to an outcome."""

    def __init__(self, runtime: Runtime, claimed: ClaimedRun, active: ActiveRun) -> None:
        run = claimed.run
        assert run.lease_id is not None
        self.runtime = runtime
        self.run = run
        self.lease_id = run.lease_id
        self.active = active
        self.workflow: Workflow[Any, Any] = runtime.workflows[run.workflow]
        self.rows: dict[str, StepResult] = {row.name: row for row in claimed.steps}
        self.outputs: dict[str, Any] = {}
        self.prev: Any = None
        self.input: Any = None

    # --- the program ------------------------------------------------------------

    def execute(self) -> Effects:
        """The generator the supervisor drives; returns a :class:`RunOutcome`."""
        try:
            return (yield from self._run())
        except RunControlError as control:
            return RunOutcome("halted", detail=describe_error(control))

    def _run(self) -> Effects:
        run, workflow = self.run, self.workflow
        yield from self.emit(RunStart(run.id, run.workflow))
        units = workflow.units
        try:
            self.input = workflow.input_schema.load(run.input)
        except Exception as error:
            first = units[0].name if units else "input"
            return (yield from self._fail(Fail(first, error)))
        for index, unit in enumerate(units):
            self._check_work()
            result = yield from self.run_unit(unit)
            if isinstance(result, Replayed):
                self._take(result.output, result.outputs)
                continue
            if isinstance(result, Suspend):
                return RunOutcome("suspended", wake_at=result.wake_at)
            if isinstance(result, Fail):
                return (yield from self._fail(result))
            if isinstance(result, Finish):
                return (yield from self._finish(result.rows, result.event, result.output))
            last = index + 1 == len(units)
            if last:
                self._take(result.output, result.outputs)
                return (yield from self._finish(result.rows, result.event, self.prev))
            rows = [*result.rows, *markers_for(units[index + 1], self.rows, run.id)]
            if rows:
                saved = yield from self.save(rows)
                if not saved:
                    raise LeaseExpiredError(run.id)
                for saved_row in rows:
                    self.rows[saved_row.name] = saved_row
            self._take(result.output, result.outputs)
            if result.event is not None:
                yield from self.emit(result.event)
        return (yield from self._finish((), None, self.prev))

    def _take(self, output: Any, outputs: dict[str, Any]) -> None:
        if output is not PASS:
            self.prev = output
        for name, value in outputs.items():
            self.outputs[name] = freeze(value)

    def _check_work(self) -> None:
        reason = self.active.work.reason
        if reason is not None:
            raise reason

    # --- endings ------------------------------------------------------------------

    def _finish(
        self,
        rows: Sequence[StepResult],
        event: Event | None,
        output: Any,
    ) -> Effects:
        self.settling()
        # Settled before the write: once it commits the lease is gone by design,
        # and a heartbeat in between must not read that as a lost lease.
        self.active.settled = True
        saved = yield from self.save(rows, RunStatus.COMPLETED)
        if not saved:
            raise LeaseExpiredError(self.run.id)
        if event is not None:
            yield from self.emit(event)
        yield from self.emit(RunComplete(self.run.id, self.run.workflow, output))
        return RunOutcome("completed")

    def _fail(self, failure: Fail) -> Effects:
        row = StepResult(
            failure.step_name,
            StepStatus.FAILED,
            None,
            describe_error(failure.error),
            failure.attempts,
            run_id=self.run.id,
        )
        self.active.settled = True
        saved = yield from self.save([*failure.rows, row], RunStatus.FAILED)
        if not saved:
            raise LeaseExpiredError(self.run.id)
        run = self.run
        yield from self.emit(RunFailed(run.id, run.workflow, failure.step_name, failure.error))
        handler = self.workflow.failure_handler
        if handler is not None:
            context = FailureContext(
                failure.error, failure.step_name, self.input, run.id, run.workflow
            )
            outcome: Executed = yield Execute(
                job=partial(_call_handler, handler, context, self.active.observer),
                label=f"{run.id}/on_failure",
                work=False,
            )
            if outcome.kind == "error":
                self._report_hook_error("on_failure handler", outcome.value)
        return RunOutcome("failed", detail=describe_error(failure.error))

    def settling(self) -> None:
        """Free this run's slot: what is left is bookkeeping, not handlers."""
        dispatcher = self.runtime.dispatcher
        if dispatcher is not None:
            tell_quietly(dispatcher, RunSettling(self.run.id))

    def _report_hook_error(self, source: str, error: BaseException) -> None:
        if isinstance(error, RunControlError):
            raise error
        wrapped = HookError(source)
        wrapped.__cause__ = error
        self.runtime.bus.report(wrapped)

    # --- shared services ------------------------------------------------------------

    def save(self, rows: Sequence[StepResult], status: RunStatus | None = None) -> Effects:
        """Persist under the lease; retry storage failures with backoff; ``False`` if lost."""
        delay = 0.05
        for attempt in range(1, _SAVE_ATTEMPTS + 1):
            try:
                return self.runtime.store.save(self.run.id, self.lease_id, rows, status)
            except SerializationError:
                raise
            except StorageError as error:
                self.runtime.bus.report(error)
                if attempt == _SAVE_ATTEMPTS:
                    # Leave the run to its lease: it resumes here or elsewhere once
                    # storage works again, with nothing lost that was committed.
                    raise LeaseExpiredError(self.run.id) from error
            self._check_work()
            yield from self.pause(delay)
            delay = min(delay * 2, 5.0)
        return False

    def pause(self, seconds: float) -> Effects:
        """Wait ``seconds`` on the engine clock without blocking the actor."""
        yield Delay(seconds)

    def emit(self, event: Event) -> Effects:
        """Deliver ``event`` to hooks and streams, waiting for them (never for on_error)."""
        bus = self.runtime.bus
        if not bus.wants(event.type):
            return
        outcome: Executed = yield Execute(
            job=partial(bus.publish, event, self.active.observer),
            label=f"{self.run.id}/{event.type}",
            work=False,
        )
        if outcome.kind == "error" and isinstance(outcome.value, RunControlError):
            raise outcome.value

    def encode_output(self, value: Any, step_name: str) -> Any:
        """Check ``value`` is persistable and within the size limit; return a fresh copy."""
        try:
            text = codec.encode_uncached(value, "output")
        except SerializationError as error:
            raise SerializationError(error.path, f'{error.reason} (step "{step_name}")') from None
        limit = self.runtime.options.max_output_bytes
        if len(text) > limit:
            raise SerializationError(
                "output",
                f'step "{step_name}" returned {len(text)} bytes of output, over the '
                f"{limit}-byte limit (max_output_bytes)",
            )
        return codec.decode_fresh(text)


def _call_handler(handler: Callable[[Any], Any], argument: Any, signal: Any, worker: Any) -> Any:
    result = handler(argument)
    if hasattr(result, "__await__"):
        return worker.run_coroutine(_await(result), signal)
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable
