"""How each kind of unit runs inside a run program: step, parallel group, sleep, wait.

Each executor returns what happened (``Replayed``, ``Advance``, ``Finish``,
``Fail`` or ``Suspend``) and leaves persisting the result to the program, which
folds it into the next write. Parallel branch results are the exception: each
is persisted as it arrives, so a completed branch never runs again.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator, Mapping
from functools import partial
from typing import Any

from .._frozen import freeze_steps
from ..context import AbortSignal, ConditionContext, StepContext
from ..errors import (
    InputValidationError,
    LeaseExpiredError,
    RunControlError,
    SerializationError,
    WaitTimeoutError,
    describe_error,
)
from ..events import StepComplete, StepSkipped, StepStart
from ..records import StepResult, StepStatus
from ..schedule import to_ms
from ..workflow import ParallelUnit, SleepUnit, StepUnit, Unit, WaitUnit
from ._attempts import attempt_sequence
from ._markers import first_attempt, marker
from ._messages import AwaitMessage, BranchFinished, Execute, Executed, StartBranches
from ._outcomes import PASS, Advance, Fail, Finish, Replayed, Suspend

__all__ = ["UnitRunner"]

Effects = Generator[Any, Any, Any]


class UnitRunner:
    """Executors for each unit kind; mixed into :class:`RunProgram`."""

    # Provided by RunProgram.
    runtime: Any
    run: Any
    lease_id: str
    active: Any
    rows: dict[str, StepResult]
    outputs: dict[str, Any]
    prev: Any
    input: Any

    def save(self, rows: Any, status: Any = None) -> Effects:
        """Persist rows under the lease (implemented by RunProgram)."""
        raise NotImplementedError

    def emit(self, event: Any) -> Effects:
        """Deliver an event (implemented by RunProgram)."""
        raise NotImplementedError

    def encode_output(self, value: Any, step_name: str) -> Any:
        """Check and copy a step output (implemented by RunProgram)."""
        raise NotImplementedError

    def settling(self) -> None:
        """Free the run's slot before its last write (implemented by RunProgram)."""
        raise NotImplementedError

    def run_unit(self, unit: Unit) -> Effects:
        """Run one unit; returns what the program should do next."""
        if isinstance(unit, StepUnit):
            return (yield from self._step(unit))
        if isinstance(unit, ParallelUnit):
            return (yield from self._parallel(unit))
        if isinstance(unit, SleepUnit):
            return (yield from self._sleep(unit))
        return (yield from self._wait(unit))

    def _row(
        self, name: str, status: StepStatus, output: Any = None, attempts: int = 0
    ) -> StepResult:
        return StepResult(name, status, output, None, attempts, run_id=self.run.id)

    def _snapshot(self) -> Mapping[str, Any]:
        return freeze_steps(self.outputs)

    # --- sequential step ----------------------------------------------------------

    def _step(self, unit: StepUnit) -> Effects:

        run = self.run
        row = self.rows.get(unit.name)
        if row is not None:
            if row.status is StepStatus.COMPLETED:
                return Replayed(row.output, {unit.name: row.output})
            if row.status is StepStatus.SKIPPED:
                return Replayed()
            if row.status is StepStatus.COMPLETED_EARLY:
                event = StepComplete(run.id, run.workflow, unit.name, row.output, row.attempts)
                return Finish(row.output, (), event)
        steps = self._snapshot()
        decided = row is not None and row.status is StepStatus.RUNNING
        if unit.when is not None and not decided:
            decision = yield from self._decide(unit, steps)
            if isinstance(decision, BaseException):
                return Fail(unit.name, decision)
            if not decision:
                skipped = self._row(unit.name, StepStatus.SKIPPED)
                return Advance(PASS, (skipped,), StepSkipped(run.id, run.workflow, unit.name))
        yield from self.emit(StepStart(run.id, run.workflow, unit.name))
        if row is None or row.status is not StepStatus.RUNNING:
            # The adapter could not mark the attempt with the claim: mark it now.
            row = marker(run.id, unit.name, row)
            yield from self._save_or_halt([row])
        result = yield from attempt_sequence(
            handler=unit.handler,
            is_async=unit.is_async,
            policy=unit.retry,
            timeout=unit.attempt_timeout,
            work=self.active.work,
            first_attempt=first_attempt(row),
            label=f"{run.id}/{unit.name}",
            step_name=unit.name,
            make_context=partial(self._context, unit.name, steps, self.prev),
            record_retry=partial(self._record_retry, unit.name),
        )
        if result.kind == "error":
            return Fail(unit.name, result.value, result.attempts)
        try:
            output = self.encode_output(result.value, unit.name)
        except SerializationError as error:
            return Fail(unit.name, error, result.attempts)
        status = StepStatus.COMPLETED if result.kind == "ok" else StepStatus.COMPLETED_EARLY
        saved = self._row(unit.name, status, output, result.attempts)
        event = StepComplete(run.id, run.workflow, unit.name, output, result.attempts)
        if result.kind == "complete":
            return Finish(output, (saved,), event)
        return Advance(output, (saved,), event, {unit.name: output})

    def _context(
        self, name: str, steps: Mapping[str, Any], prev: Any, signal: AbortSignal, attempt: int
    ) -> StepContext[Any, Any]:
        return StepContext(
            input=self.input,
            prev=prev,
            steps=steps,
            run_id=self.run.id,
            step_name=name,
            workflow=self.run.workflow,
            signal=signal,
            attempt=attempt,
        )

    def _decide(self, unit: StepUnit, steps: Mapping[str, Any]) -> Effects:
        context = ConditionContext(
            input=self.input,
            prev=self.prev,
            steps=steps,
            run_id=self.run.id,
            step_name=unit.name,
            workflow=self.run.workflow,
        )
        assert unit.when is not None
        try:
            value = unit.when(context)
        except BaseException as error:  # user code on the supervisor's thread: contain it all
            return error
        if inspect.isawaitable(value):
            outcome: Executed = yield Execute(
                job=partial(_await_on_worker, value, self.active.work),
                label=f"{self.run.id}/{unit.name}/when",
            )
            if outcome.kind == "error":
                if isinstance(outcome.value, RunControlError):
                    raise outcome.value
                return outcome.value
            value = outcome.value
        return bool(value)

    def _record_retry(self, name: str, attempt: int, error: BaseException) -> Effects:

        row = StepResult(
            name, StepStatus.RUNNING, None, describe_error(error), attempt, run_id=self.run.id
        )
        yield from self._save_or_halt([row])

    def _save_or_halt(self, rows: list[StepResult]) -> Effects:

        saved = yield from self.save(rows)
        if not saved:
            raise LeaseExpiredError(self.run.id)
        for row in rows:
            self.rows[row.name] = row

    # --- parallel group -------------------------------------------------------------

    def _parallel(self, unit: ParallelUnit) -> Effects:

        run = self.run
        outputs: dict[str, Any] = {}
        pending = []
        for branch in unit.branches:
            row = self.rows.get(branch.name)
            if row is not None and row.status is StepStatus.COMPLETED:
                outputs[branch.name] = row.output
            else:
                pending.append(branch)
        if not pending:
            return Replayed(_merge(unit, outputs), dict(outputs))
        steps = self._snapshot()
        for branch in pending:
            yield from self.emit(StepStart(run.id, run.workflow, branch.name))
        group, unlink = self.active.work._child()
        attempts = {b.name: first_attempt(self.rows.get(b.name)) for b in pending}
        waiting = {b.name for b in pending}
        failure: tuple[str, BaseException, int] | None = None
        try:
            yield StartBranches(tuple(pending), attempts, self.prev, steps, group)
            while waiting:
                done: BranchFinished = yield AwaitMessage()
                waiting.discard(done.name)
                if done.halted:
                    raise LeaseExpiredError(run.id)
                if not done.ok:
                    if failure is None:
                        failure = (done.name, done.value, done.attempts)
                        group._abort(done.value)
                    continue
                try:
                    output = self.encode_output(done.value, done.name)
                except SerializationError as error:
                    if failure is None:
                        failure = (done.name, error, done.attempts)
                        group._abort(error)
                    continue
                row = self._row(done.name, StepStatus.COMPLETED, output, done.attempts)
                yield from self._save_or_halt([row])
                outputs[done.name] = output
                event = StepComplete(run.id, run.workflow, done.name, output, done.attempts)
                yield from self.emit(event)
        finally:
            unlink()
        if failure is not None:
            name, cause, tried = failure
            aborted = tuple(
                StepResult(
                    b.name,
                    StepStatus.FAILED,
                    None,
                    f'Aborted: branch "{name}" failed',
                    self.rows[b.name].attempts if b.name in self.rows else 0,
                    run_id=run.id,
                )
                for b in pending
                if b.name != name and b.name not in outputs
            )
            return Fail(name, cause, tried, aborted)
        return Advance(_merge(unit, outputs), (), None, dict(outputs))

    # --- durable time -----------------------------------------------------------------

    def _sleep(self, unit: SleepUnit) -> Effects:

        run = self.run
        row = self.rows.get(unit.name)
        if row is not None and row.status is StepStatus.COMPLETED:
            return Replayed()
        now = self.runtime.clock.now_ms()
        resumed = row is not None and row.status is StepStatus.SLEEPING
        if resumed:
            assert row is not None
            wake_at = int(row.output)
        else:
            yield from self.emit(StepStart(run.id, run.workflow, unit.name))
            wake_at = now + to_ms(unit.seconds)
        if wake_at <= now:
            done = self._row(unit.name, StepStatus.COMPLETED)
            return Advance(PASS, (done,), StepComplete(run.id, run.workflow, unit.name, None, 0))
        if not resumed:
            yield from self._save_or_halt([self._row(unit.name, StepStatus.SLEEPING, wake_at)])
        self.settling()
        self.active.settled = True
        if not self.runtime.storage.sleep_run(run.id, self.lease_id, wake_at):
            raise LeaseExpiredError(run.id)
        return Suspend(wake_at)

    def _wait(self, unit: WaitUnit) -> Effects:
        run, storage = self.run, self.runtime.storage
        row = self.rows.get(unit.name)
        if row is not None and row.status is StepStatus.COMPLETED:
            loaded = _load_payload(unit, row.output)
            if isinstance(loaded, Fail):
                return loaded
            return Replayed(loaded, {unit.name: row.output})
        resumed = row is not None and row.status is StepStatus.WAITING
        if not resumed:
            yield from self.emit(StepStart(run.id, run.workflow, unit.name))
        taken, payload = self.runtime.store.consume_event(
            run.id, self.lease_id, unit.name, partial(self._consumed, unit.name)
        )
        if taken:
            self.rows[unit.name] = self._row(unit.name, StepStatus.COMPLETED, payload)
            event = StepComplete(run.id, run.workflow, unit.name, payload, 0)
            loaded = _load_payload(unit, payload)
            if isinstance(loaded, Fail):
                return loaded
            return Advance(loaded, (), event, {unit.name: payload})
        now = self.runtime.clock.now_ms()
        if resumed:
            assert row is not None
            deadline = None if row.output is None else int(row.output)
            if deadline is not None and now >= deadline:
                return Fail(unit.name, WaitTimeoutError(unit.name, unit.timeout or 0.0))
        else:
            deadline = None if unit.timeout is None else now + to_ms(unit.timeout)
            yield from self._save_or_halt([self._row(unit.name, StepStatus.WAITING, deadline)])
        self.settling()
        self.active.settled = True
        if not storage.wait_run(run.id, self.lease_id, unit.name, deadline):
            raise LeaseExpiredError(run.id)
        return Suspend(deadline)

    def _consumed(self, name: str, payload: Any) -> list[StepResult]:
        return [self._row(name, StepStatus.COMPLETED, payload)]


def _load_payload(unit: WaitUnit, payload: Any) -> Any:
    """What the next step receives for a consumed event, or the wait's failure.

    Payloads are validated when sent; one stored without validation (written
    straight to storage) that the schema cannot load fails the run at the wait.
    """
    try:
        return unit.schema.load(payload)
    except Exception as error:
        what = f'Event "{unit.name}" payload'
        invalid = InputValidationError(what, [str(error) or type(error).__name__])
        invalid.__cause__ = error
        return Fail(unit.name, invalid)


def _merge(unit: ParallelUnit, outputs: dict[str, Any]) -> dict[str, Any]:
    """The group's output: ``{branch: output}`` in declaration order."""
    return {branch.name: outputs.get(branch.name) for branch in unit.branches}


def _await_on_worker(awaitable: Any, signal: AbortSignal, worker: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    return worker.run_coroutine(wait(), signal)
