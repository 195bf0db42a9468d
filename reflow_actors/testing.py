"""Test helpers: ``test_engine`` runs a workflow to its end on a virtual clock.

::

    te = test_engine(workflows=[order])
    result = te.run(order, {"order_id": "x"}, events={"approved": {"ok": True}})
    assert result.status == "completed"
    assert result.steps["charge"].output == {"charged": True}

Each ``run`` uses a fresh in-memory storage and engine. Time is virtual:
sleeps and retry delays are skipped over instantly, waits get the ``events``
given (sent up front; a run buffers events until it reaches the wait), and a
wait with a timeout and no event times out. Handlers and step timeouts still
see real time pass. A run that cannot finish raises
:class:`~reflow_actors.errors.TestRunIncompleteError` saying what it waits for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import pykka

from ._actors.dispatcher import TickAndWait
from .clock import VirtualClock
from .engine import DEFAULT_MAX_OUTPUT_BYTES, Engine
from .errors import TestRunIncompleteError
from .events import Event, Hooks, RunComplete
from .records import RunStatus, StepResult, StepStatus, WorkflowRun
from .schedule import Duration
from .storage.memory import MemoryStorage
from .workflow import Workflow

__all__ = ["MemoryStorage", "TestEngine", "TestRunResult", "VirtualClock", "test_engine"]

InputT = TypeVar("InputT")
_MAX_ROUNDS = 10_000
_POLL = 0.002


@dataclass(frozen=True, slots=True)
class TestRunResult:
    """How a test run ended: its run record, step results by name, and events."""

    __test__ = False

    run: WorkflowRun
    steps: dict[str, StepResult]
    output: Any = None
    events: list[Event] = field(default_factory=list)

    @property
    def status(self) -> RunStatus:
        """``completed`` or ``failed``."""
        return self.run.status

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run.id

    @property
    def error(self) -> str | None:
        """The failed step's error, for a failed run."""
        for result in self.steps.values():
            if result.status is StepStatus.FAILED and not (result.error or "").startswith(
                "Aborted:"
            ):
                return result.error
        return None


class TestEngine:
    """Runs workflows to completion in tests; create it with :func:`test_engine`."""

    __test__ = False

    def __init__(self, workflows: Sequence[Workflow[Any, Any]], options: dict[str, Any]) -> None:
        self._workflows = list(workflows)
        self._options = options
        Engine(storage=MemoryStorage(), workflows=self._workflows, **options)  # validate now

    @overload
    def run(
        self,
        workflow: Workflow[InputT, Any],
        input: InputT | Mapping[str, Any] = ...,
        *,
        events: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TestRunResult: ...

    @overload
    def run(
        self,
        workflow: str,
        input: Any = None,
        *,
        events: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TestRunResult: ...

    def run(
        self,
        workflow: Workflow[Any, Any] | str,
        input: Any = None,
        *,
        events: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TestRunResult:
        """Enqueue a run, deliver ``events``, and drive it until it completes or fails."""
        clock = VirtualClock(frozen=False)
        engine = Engine(
            storage=MemoryStorage(clock=clock),
            workflows=self._workflows,
            clock=clock,
            **self._options,
        )
        stream = engine.stream()
        try:
            run = engine.enqueue(workflow, input, idempotency_key=idempotency_key)
            for name, payload in (events or {}).items():
                engine.send_event(run.id, name, payload)
            info = _drive(engine, clock, run.id)
        finally:
            engine.stop()
        seen = [event for event in _drain(stream) if event.run_id == run.id]
        stream.close()
        output = next((event.output for event in seen if isinstance(event, RunComplete)), None)
        steps = {result.name: result for result in info[1]}
        return TestRunResult(info[0], steps, output, seen)


def _drain(stream: Any) -> list[Event]:
    collected: list[Event] = []
    while True:
        try:
            event = stream.get(timeout=0)
        except TimeoutError:
            return collected
        if event is None:
            return collected
        collected.append(event)


def _tick(engine: Engine, clock: VirtualClock) -> None:
    system = engine._ensure_system()
    reply: pykka.Future[int] = pykka.ThreadingFuture()
    system.dispatcher.tell(TickAndWait(reply))
    while True:
        with contextlib.suppress(pykka.Timeout):
            reply.get(timeout=_POLL)
            return
        if system.pool.busy == 0:
            # Nothing is executing: the run waits for a retry delay. Skip it.
            deadline = system.timers.next_deadline(kind="delay")
            if deadline is not None:
                clock.advance(max(0.0, deadline - clock.monotonic()))


def _drive(
    engine: Engine, clock: VirtualClock, run_id: str
) -> tuple[WorkflowRun, list[StepResult]]:
    for _ in range(_MAX_ROUNDS):
        _tick(engine, clock)
        info = engine.get_run_status(run_id)
        assert info is not None
        run = info.run
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
            return run, info.steps
        if run.status is RunStatus.SLEEPING or run.status is RunStatus.WAITING:
            suspended = [
                step
                for step in info.steps
                if step.status in (StepStatus.SLEEPING, StepStatus.WAITING)
            ]
            step = suspended[-1] if suspended else None
            if step is None:
                raise TestRunIncompleteError(run_id, run.status, "it is suspended on no step")
            if step.output is None:
                raise TestRunIncompleteError(
                    run_id,
                    run.status,
                    f'it waits for event "{step.name}", which was not given in events=',
                )
            clock.set(int(step.output) / 1000)
    raise TestRunIncompleteError(run_id, "running", f"it did not finish in {_MAX_ROUNDS} ticks")


def test_engine(
    workflows: Sequence[Workflow[Any, Any]],
    *,
    concurrency: int = 1,
    lease_duration: Duration = 30,
    heartbeat_interval: Duration | None = None,
    hooks: Hooks | None = None,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
) -> TestEngine:
    """A :class:`TestEngine` for ``workflows`` (``create_engine``'s options minus storage)."""
    return TestEngine(
        workflows,
        {
            "concurrency": concurrency,
            "lease_duration": lease_duration,
            "heartbeat_interval": heartbeat_interval,
            "hooks": hooks,
            "max_output_bytes": max_output_bytes,
        },
    )


test_engine.__test__ = False  # type: ignore[attr-defined]
