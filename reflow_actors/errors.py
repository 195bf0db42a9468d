"""Every error reflow-actors raises, with a stable ``code`` for each.

All of them derive from :class:`ReflowError`. The tree::

    ReflowError                      REFLOW
    ├── ConfigError                  CONFIG
    │   ├── DuplicateWorkflowError   DUPLICATE_WORKFLOW
    │   └── DuplicateStepError       DUPLICATE_STEP
    ├── WorkflowNotFoundError        WORKFLOW_NOT_FOUND
    ├── RunNotFoundError             RUN_NOT_FOUND
    ├── InputValidationError         VALIDATION
    ├── IdempotencyConflictError     IDEMPOTENCY_CONFLICT
    ├── SerializationError           SERIALIZATION
    ├── StorageError                 STORAGE
    ├── HookError                    HOOK
    ├── StepTimeoutError             STEP_TIMEOUT
    ├── WaitTimeoutError             WAIT_TIMEOUT
    ├── StepFailedError              STEP_FAILED
    ├── ParallelCompleteError        PARALLEL_COMPLETE
    ├── NonRetryableError            NON_RETRYABLE
    ├── TestRunIncompleteError       TEST_RUN_INCOMPLETE
    └── RunControlError              RUN_CONTROL
        ├── RunCancelledError        RUN_CANCELLED
        ├── LeaseExpiredError        LEASE_EXPIRED
        └── EngineStoppedError       ENGINE_STOPPED

``RunControlError`` and its subclasses are control flow, not failures: they are
the reasons an :class:`~reflow_actors.AbortSignal` carries when a run is
cancelled, loses its lease or its engine stops. They never fail a run, never
write a ``failed`` row and never reach ``on_failure``.

Every error renders as plain data with :meth:`ReflowError.to_dict`: its type,
code, message, context fields, and the flattened chain of causes.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ConfigError",
    "DuplicateStepError",
    "DuplicateWorkflowError",
    "EngineStoppedError",
    "HookError",
    "IdempotencyConflictError",
    "InputValidationError",
    "LeaseExpiredError",
    "NonRetryableError",
    "ParallelCompleteError",
    "ReflowError",
    "RunCancelledError",
    "RunControlError",
    "RunNotFoundError",
    "SerializationError",
    "StepFailedError",
    "StepTimeoutError",
    "StorageError",
    "TestRunIncompleteError",
    "WaitTimeoutError",
    "WorkflowNotFoundError",
    "describe_error",
]


def describe_error(error: BaseException) -> str:
    """Render an exception the way a step's persisted ``error`` reads: ``Type: message``."""
    name = type(error).__name__
    try:
        message = str(error)
    except Exception:  # an exception whose __str__ raises must still be reportable
        try:
            message = repr(error)
        except Exception:
            message = ""
    return f"{name}: {message}" if message else name


def _cause_of(error: BaseException) -> BaseException | None:
    if error.__cause__ is not None:
        return error.__cause__
    if error.__context__ is not None and not error.__suppress_context__:
        return error.__context__
    return None


class ReflowError(Exception):
    """Base class of every error raised by reflow-actors.

    ``code`` is stable across releases and safe to match on; ``context`` holds
    the structured fields each subclass documents.
    """

    code: ClassVar[str] = "REFLOW"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def context(self) -> dict[str, Any]:
        """The structured fields of this error (empty for the base class)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """Return this error as plain data: type, code, message, context and causes.

        ``causes`` is the chain of ``__cause__`` (or unsuppressed ``__context__``)
        flattened outermost first; a reflow cause carries its code and context.
        """
        causes: list[dict[str, Any]] = []
        seen: set[int] = {id(self)}
        cause = _cause_of(self)
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            entry: dict[str, Any] = {"type": type(cause).__name__, "message": str(cause)}
            if isinstance(cause, ReflowError):
                entry["code"] = cause.code
                entry["context"] = cause.context
            causes.append(entry)
            cause = _cause_of(cause)
        return {
            "type": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "context": self.context,
            "causes": causes,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries in tests and workers; keep them picklable
        # even though subclasses take structured constructor arguments.
        return (_rebuild, (type(self), self.__dict__.copy(), self.args))


def _rebuild(cls: type[ReflowError], state: dict[str, Any], args: tuple[Any, ...]) -> ReflowError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(ReflowError):
    """A definition, option or argument is invalid; the message names the bad value."""

    code: ClassVar[str] = "CONFIG"


class DuplicateWorkflowError(ConfigError):
    """Two workflows with the same name were registered on one engine."""

    code: ClassVar[str] = "DUPLICATE_WORKFLOW"

    def __init__(self, workflow_name: str) -> None:
        super().__init__(f'Workflow "{workflow_name}" is registered more than once')
        self.workflow_name = workflow_name

    @property
    def context(self) -> dict[str, Any]:
        """``workflow_name``."""
        return {"workflow_name": self.workflow_name}


class DuplicateStepError(ConfigError):
    """A step, branch, sleep or wait name is used twice in one workflow."""

    code: ClassVar[str] = "DUPLICATE_STEP"

    def __init__(self, workflow_name: str, step_name: str) -> None:
        super().__init__(f'Step "{step_name}" is already defined in workflow "{workflow_name}"')
        self.workflow_name = workflow_name
        self.step_name = step_name

    @property
    def context(self) -> dict[str, Any]:
        """``workflow_name`` and ``step_name``."""
        return {"workflow_name": self.workflow_name, "step_name": self.step_name}


class WorkflowNotFoundError(ReflowError):
    """No workflow of that name is registered on this engine."""

    code: ClassVar[str] = "WORKFLOW_NOT_FOUND"

    def __init__(self, workflow_name: str) -> None:
        super().__init__(f'Workflow "{workflow_name}" not found')
        self.workflow_name = workflow_name

    @property
    def context(self) -> dict[str, Any]:
        """``workflow_name``."""
        return {"workflow_name": self.workflow_name}


class RunNotFoundError(ReflowError):
    """No run with that id exists in storage."""

    code: ClassVar[str] = "RUN_NOT_FOUND"

    def __init__(self, run_id: str) -> None:
        super().__init__(f'Run "{run_id}" not found')
        self.run_id = run_id

    @property
    def context(self) -> dict[str, Any]:
        """``run_id``."""
        return {"run_id": self.run_id}


class InputValidationError(ReflowError):
    """Workflow input or an event payload failed its schema; nothing was stored.

    ``issues`` is a list of readable strings, one per problem, each naming the
    field it is about where the schema says so (``"email: value is not a valid
    email address"``).
    """

    code: ClassVar[str] = "VALIDATION"

    def __init__(self, what: str, issues: list[str]) -> None:
        detail = "; ".join(issues) if issues else "invalid value"
        super().__init__(f"{what} failed validation: {detail}")
        self.what = what
        self.issues = list(issues)

    @property
    def context(self) -> dict[str, Any]:
        """``what`` was validated and the ``issues`` found."""
        return {"what": self.what, "issues": list(self.issues)}


class IdempotencyConflictError(ReflowError):
    """An idempotency key was reused for the same workflow with different input."""

    code: ClassVar[str] = "IDEMPOTENCY_CONFLICT"

    def __init__(self, workflow_name: str, idempotency_key: str) -> None:
        super().__init__(
            f'Idempotency key "{idempotency_key}" for workflow "{workflow_name}" '
            "is already associated with different input"
        )
        self.workflow_name = workflow_name
        self.idempotency_key = idempotency_key

    @property
    def context(self) -> dict[str, Any]:
        """``workflow_name`` and ``idempotency_key``."""
        return {"workflow_name": self.workflow_name, "idempotency_key": self.idempotency_key}


class SerializationError(ReflowError):
    """A value cannot be persisted; ``path`` names where it is (``output.items[3]``)."""

    code: ClassVar[str] = "SERIALIZATION"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Cannot persist {path}: {reason}")
        self.path = path
        self.reason = reason

    @property
    def context(self) -> dict[str, Any]:
        """``path`` of the bad value and the ``reason`` it was refused."""
        return {"path": self.path, "reason": self.reason}


class StorageError(ReflowError):
    """A storage operation failed; the driver's error is ``__cause__``.

    ``operation`` is the storage method that failed (``"claim_next_run"``). The
    message carries the driver's message too, because a step's persisted error
    is a plain string.
    """

    code: ClassVar[str] = "STORAGE"

    def __init__(self, operation: str, detail: str | None = None) -> None:
        suffix = f": {detail}" if detail else ""
        super().__init__(f'Storage operation "{operation}" failed{suffix}')
        self.operation = operation

    @property
    def context(self) -> dict[str, Any]:
        """``operation``."""
        return {"operation": self.operation}


class HookError(ReflowError):
    """A hook, stream delivery or ``on_failure`` handler raised; ``__cause__`` is the error.

    Hook errors never change a run: they are passed to the ``on_error`` hook.
    """

    code: ClassVar[str] = "HOOK"

    def __init__(self, source: str) -> None:
        super().__init__(f"{source} raised")
        self.source = source

    @property
    def context(self) -> dict[str, Any]:
        """``source``: which hook or handler raised (``"on_step_complete hook"``)."""
        return {"source": self.source}


class StepTimeoutError(ReflowError):
    """A step attempt ran longer than its timeout; it counts as a failed attempt."""

    code: ClassVar[str] = "STEP_TIMEOUT"

    def __init__(self, timeout: float, step_name: str | None = None) -> None:
        where = f'Step "{step_name}"' if step_name else "Step"
        super().__init__(f"{where} timed out after {timeout:g}s")
        self.timeout = timeout
        self.step_name = step_name

    @property
    def context(self) -> dict[str, Any]:
        """``timeout`` in seconds and the ``step_name``."""
        return {"timeout": self.timeout, "step_name": self.step_name}


class WaitTimeoutError(ReflowError):
    """An event did not arrive before its ``wait_for_event`` timeout; the run fails."""

    code: ClassVar[str] = "WAIT_TIMEOUT"

    def __init__(self, event_name: str, timeout: float) -> None:
        super().__init__(f'Timed out after {timeout:g}s waiting for event "{event_name}"')
        self.event_name = event_name
        self.timeout = timeout

    @property
    def context(self) -> dict[str, Any]:
        """``event_name`` and ``timeout`` in seconds."""
        return {"event_name": self.event_name, "timeout": self.timeout}


class StepFailedError(ReflowError):
    """A step failed without an error of its own to report (e.g. it never got to start)."""

    code: ClassVar[str] = "STEP_FAILED"

    def __init__(self, step_name: str, attempts: int) -> None:
        plural = "" if attempts == 1 else "s"
        super().__init__(f'Step "{step_name}" failed after {attempts} attempt{plural}')
        self.step_name = step_name
        self.attempts = attempts

    @property
    def context(self) -> dict[str, Any]:
        """``step_name`` and ``attempts``."""
        return {"step_name": self.step_name, "attempts": self.attempts}


class ParallelCompleteError(ReflowError):
    """``ctx.complete()`` was called inside a parallel branch, which cannot end the run."""

    code: ClassVar[str] = "PARALLEL_COMPLETE"

    def __init__(self, step_name: str) -> None:
        super().__init__(f'complete() cannot be called inside parallel branch "{step_name}"')
        self.step_name = step_name

    @property
    def context(self) -> dict[str, Any]:
        """``step_name``: the branch that called ``complete()``."""
        return {"step_name": self.step_name}


class NonRetryableError(ReflowError):
    """Raise this (or a subclass) from a handler to fail the step at once, skipping retries."""

    code: ClassVar[str] = "NON_RETRYABLE"


class TestRunIncompleteError(ReflowError):
    """``test_engine().run`` could not drive the run to completed or failed."""

    __test__ = False  # pytest: this is an error class, not a test class
    code: ClassVar[str] = "TEST_RUN_INCOMPLETE"

    def __init__(self, run_id: str, status: str, reason: str) -> None:
        super().__init__(f'Run "{run_id}" is still {status}: {reason}')
        self.run_id = run_id
        self.status = status
        self.reason = reason

    @property
    def context(self) -> dict[str, Any]:
        """``run_id``, ``status`` and the ``reason`` the run could not finish."""
        return {"run_id": self.run_id, "status": self.status, "reason": self.reason}


class RunControlError(ReflowError):
    """Base of the control-flow reasons a run stops without failing."""

    code: ClassVar[str] = "RUN_CONTROL"


class RunCancelledError(RunControlError):
    """The run was cancelled; its current step's signal carries this reason."""

    code: ClassVar[str] = "RUN_CANCELLED"

    def __init__(self, run_id: str) -> None:
        super().__init__(f'Run "{run_id}" was cancelled')
        self.run_id = run_id

    @property
    def context(self) -> dict[str, Any]:
        """``run_id``."""
        return {"run_id": self.run_id}


class LeaseExpiredError(RunControlError):
    """The engine lost the run's lease; another engine may own the run now."""

    code: ClassVar[str] = "LEASE_EXPIRED"

    def __init__(self, run_id: str) -> None:
        super().__init__(f'Run "{run_id}" lease expired')
        self.run_id = run_id

    @property
    def context(self) -> dict[str, Any]:
        """``run_id``."""
        return {"run_id": self.run_id}


class EngineStoppedError(RunControlError):
    """The engine is stopping; the run stays reclaimable by any engine."""

    code: ClassVar[str] = "ENGINE_STOPPED"

    def __init__(self, run_id: str | None = None) -> None:
        what = f'run "{run_id}" interrupted' if run_id else "interrupted"
        super().__init__(f"Engine stopped: {what}")
        self.run_id = run_id

    @property
    def context(self) -> dict[str, Any]:
        """``run_id`` of the interrupted run, if any."""
        return {"run_id": self.run_id}
