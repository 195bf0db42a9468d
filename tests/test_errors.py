"""The error tree: codes, messages, context, to_dict and pickling (reflow-ts ER)."""

from __future__ import annotations

import json
import pickle
import re

import pytest

from reflow_actors import errors
from reflow_actors.errors import (
    ConfigError,
    DuplicateStepError,
    DuplicateWorkflowError,
    EngineStoppedError,
    HookError,
    IdempotencyConflictError,
    InputValidationError,
    LeaseExpiredError,
    NonRetryableError,
    ParallelCompleteError,
    ReflowError,
    RunCancelledError,
    RunControlError,
    RunNotFoundError,
    SerializationError,
    StepFailedError,
    StepTimeoutError,
    StorageError,
    TestRunIncompleteError,
    WaitTimeoutError,
    WorkflowNotFoundError,
    describe_error,
)

# One instance of every class, built with representative arguments.
SAMPLES: dict[type[ReflowError], ReflowError] = {
    ReflowError: ReflowError("something broke"),
    ConfigError: ConfigError("bad option"),
    DuplicateWorkflowError: DuplicateWorkflowError("order"),
    DuplicateStepError: DuplicateStepError("order", "charge"),
    WorkflowNotFoundError: WorkflowNotFoundError("order"),
    RunNotFoundError: RunNotFoundError("run-1"),
    InputValidationError: InputValidationError("input", ["email: required", "age: too low"]),
    IdempotencyConflictError: IdempotencyConflictError("order", "k-1"),
    SerializationError: SerializationError("output.items[3]", "a set is not plain data"),
    StorageError: StorageError("claim_next_run", "database is locked"),
    HookError: HookError("on_step_complete hook"),
    StepTimeoutError: StepTimeoutError(0.05, "charge"),
    WaitTimeoutError: WaitTimeoutError("approved", 50),
    StepFailedError: StepFailedError("charge", 3),
    ParallelCompleteError: ParallelCompleteError("email"),
    NonRetryableError: NonRetryableError("card declined"),
    TestRunIncompleteError: TestRunIncompleteError("run-1", "waiting", 'event "approved"'),
    RunControlError: RunControlError("stop"),
    RunCancelledError: RunCancelledError("run-1"),
    LeaseExpiredError: LeaseExpiredError("run-1"),
    EngineStoppedError: EngineStoppedError("run-1"),
}

ERROR_CLASSES = [getattr(errors, name) for name in errors.__all__ if name != "describe_error"]


def test_samples_cover_every_public_class():
    assert set(SAMPLES) == set(ERROR_CLASSES)
    assert callable(errors.describe_error)
    assert sorted(errors.__all__) == errors.__all__


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_hierarchy_and_code(cls):
    assert issubclass(cls, ReflowError)
    assert issubclass(cls, Exception)
    assert isinstance(cls.code, str)
    assert re.fullmatch(r"[A-Z][A-Z_]*", cls.code)
    assert cls.__doc__
    assert cls.__doc__.strip()
    assert type(SAMPLES[cls]) is cls


def test_codes_are_distinct():
    codes = [cls.code for cls in ERROR_CLASSES]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (ReflowError, "REFLOW"),
        (ConfigError, "CONFIG"),
        (WorkflowNotFoundError, "WORKFLOW_NOT_FOUND"),
        (InputValidationError, "VALIDATION"),
        (StepTimeoutError, "STEP_TIMEOUT"),
        (LeaseExpiredError, "LEASE_EXPIRED"),
        (SerializationError, "SERIALIZATION"),
        (StorageError, "STORAGE"),
        (HookError, "HOOK"),
        (RunCancelledError, "RUN_CANCELLED"),
    ],
)
def test_codes_named_by_the_contract(cls, code):
    assert cls.code == code
    assert SAMPLES[cls].to_dict()["code"] == code


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_module_docstring_draws_every_class(cls):
    assert re.search(rf"\b{cls.__name__}\s+{cls.code}\b", errors.__doc__ or "")


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_context_fields_are_documented_and_attributes(cls):
    error = SAMPLES[cls]
    context = error.context
    assert isinstance(context, dict)
    doc = type(error).context.__doc__ or ""
    for field, value in context.items():
        assert f"``{field}``" in doc, f"{cls.__name__}.context does not document {field}"
        assert getattr(error, field) == value
    json.dumps(error.to_dict())  # plain data throughout


@pytest.mark.parametrize(
    ("error", "context"),
    [
        (ConfigError("bad"), {}),
        (WorkflowNotFoundError("wf"), {"workflow_name": "wf"}),
        (DuplicateWorkflowError("wf"), {"workflow_name": "wf"}),
        (DuplicateStepError("wf", "s"), {"workflow_name": "wf", "step_name": "s"}),
        (ParallelCompleteError("b"), {"step_name": "b"}),
        (InputValidationError("input", ["required"]), {"what": "input", "issues": ["required"]}),
        (IdempotencyConflictError("wf", "k"), {"workflow_name": "wf", "idempotency_key": "k"}),
        (SerializationError("output.a", "why"), {"path": "output.a", "reason": "why"}),
        (StepTimeoutError(0.05), {"timeout": 0.05, "step_name": None}),
        (WaitTimeoutError("approval", 0.05), {"event_name": "approval", "timeout": 0.05}),
        (StepFailedError("a", 3), {"step_name": "a", "attempts": 3}),
        (HookError("on_error hook"), {"source": "on_error hook"}),
        (RunCancelledError("r"), {"run_id": "r"}),
        (LeaseExpiredError("r"), {"run_id": "r"}),
        (EngineStoppedError(), {"run_id": None}),
        (StorageError("close"), {"operation": "close"}),
        (
            TestRunIncompleteError("r", "sleeping", "x"),
            {"run_id": "r", "status": "sleeping", "reason": "x"},
        ),
    ],
)
def test_context_values(error, context):
    assert error.context == context


# --- messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (WorkflowNotFoundError("x"), 'Workflow "x" not found'),
        (DuplicateWorkflowError("x"), 'Workflow "x" is registered more than once'),
        (DuplicateStepError("wf", "charge"), 'Step "charge" is already defined in workflow "wf"'),
        (StorageError("close"), 'Storage operation "close" failed'),
        (StorageError("close", ""), 'Storage operation "close" failed'),
        (StorageError("close", None), 'Storage operation "close" failed'),
        (
            StorageError("save_step_result", "disk I/O error"),
            'Storage operation "save_step_result" failed: disk I/O error',
        ),
        (HookError("on_step_complete hook"), "on_step_complete hook raised"),
        (StepTimeoutError(0.05), "Step timed out after 0.05s"),
        (StepTimeoutError(5, "charge"), 'Step "charge" timed out after 5s'),
        (StepTimeoutError(1.5, "charge"), 'Step "charge" timed out after 1.5s'),
        (WaitTimeoutError("approved", 50), 'Timed out after 50s waiting for event "approved"'),
        (StepFailedError("a", 1), 'Step "a" failed after 1 attempt'),
        (StepFailedError("a", 3), 'Step "a" failed after 3 attempts'),
        (StepFailedError("a", 0), 'Step "a" failed after 0 attempts'),
        (ParallelCompleteError("b"), 'complete() cannot be called inside parallel branch "b"'),
        (
            IdempotencyConflictError("wf", "k"),
            'Idempotency key "k" for workflow "wf" is already associated with different input',
        ),
        (
            SerializationError("output.items[3]", "no sets"),
            "Cannot persist output.items[3]: no sets",
        ),
        (InputValidationError("input", ["a: x", "b: y"]), "input failed validation: a: x; b: y"),
        (InputValidationError("payload", []), "payload failed validation: invalid value"),
        (RunCancelledError("r1"), 'Run "r1" was cancelled'),
        (LeaseExpiredError("r1"), 'Run "r1" lease expired'),
        (EngineStoppedError("r1"), 'Engine stopped: run "r1" interrupted'),
        (EngineStoppedError(), "Engine stopped: interrupted"),
        (
            TestRunIncompleteError("r1", "waiting", 'event "ok"'),
            'Run "r1" is still waiting: event "ok"',
        ),
        (ConfigError("bad option"), "bad option"),
    ],
)
def test_messages(error, message):
    assert str(error) == message
    assert error.message == message
    assert error.to_dict()["message"] == message


def test_duplicate_step_names_both():
    message = str(DuplicateStepError("order-flow", "ship-it"))
    assert "order-flow" in message
    assert "ship-it" in message


def test_input_validation_issues_are_copied():
    issues = ["a: required"]
    error = InputValidationError("input", issues)
    issues.append("later")
    assert error.issues == ["a: required"]
    error.context["issues"].append("mutated")
    assert error.issues == ["a: required"]


# --- subclass relations -----------------------------------------------------------------


def test_config_error_subclasses():
    assert issubclass(DuplicateWorkflowError, ConfigError)
    assert issubclass(DuplicateStepError, ConfigError)
    with pytest.raises(ConfigError):
        raise DuplicateStepError("wf", "s")


@pytest.mark.parametrize("cls", [RunCancelledError, LeaseExpiredError, EngineStoppedError])
def test_run_control_errors(cls):
    assert issubclass(cls, RunControlError)


@pytest.mark.parametrize(
    "cls", [StepTimeoutError, WaitTimeoutError, StepFailedError, NonRetryableError, ConfigError]
)
def test_real_failures_are_not_run_control(cls):
    assert not issubclass(cls, RunControlError)


def test_only_the_tree_is_config_error():
    config = {cls for cls in ERROR_CLASSES if issubclass(cls, ConfigError)}
    assert config == {ConfigError, DuplicateWorkflowError, DuplicateStepError}


# --- to_dict ----------------------------------------------------------------------------


def test_to_dict_shape_without_cause():
    assert ConfigError("bad").to_dict() == {
        "type": "ConfigError",
        "code": "CONFIG",
        "message": "bad",
        "context": {},
        "causes": [],
    }
    assert WaitTimeoutError("approval", 50).to_dict() == {
        "type": "WaitTimeoutError",
        "code": "WAIT_TIMEOUT",
        "message": 'Timed out after 50s waiting for event "approval"',
        "context": {"event_name": "approval", "timeout": 50},
        "causes": [],
    }


def _chain() -> HookError:
    try:
        try:
            try:
                raise OSError("disk I/O error")
            except OSError as c:
                raise StorageError("save_step_result", "disk I/O error") from c
        except StorageError as b:
            raise HookError("on_step_complete hook") from b
    except HookError as a:
        return a


def test_to_dict_flattens_cause_chain():
    data = _chain().to_dict()
    assert data["type"] == "HookError"
    assert data["code"] == "HOOK"
    assert data["context"] == {"source": "on_step_complete hook"}
    assert data["causes"] == [
        {
            "type": "StorageError",
            "message": 'Storage operation "save_step_result" failed: disk I/O error',
            "code": "STORAGE",
            "context": {"operation": "save_step_result"},
        },
        {"type": "OSError", "message": "disk I/O error"},
    ]
    json.dumps(data)


def _raise_suppressed() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        raise ConfigError("while handling") from None


def _raise_implicit() -> None:
    try:
        raise ValueError("inner")
    except ValueError:
        raise ConfigError("outer")  # noqa: B904 - the implicit context is the point


def test_to_dict_follows_implicit_context():
    with pytest.raises(ConfigError) as suppressed:
        _raise_suppressed()
    assert suppressed.value.to_dict()["causes"] == []
    with pytest.raises(ConfigError) as implicit:
        _raise_implicit()
    assert implicit.value.to_dict()["causes"] == [{"type": "ValueError", "message": "inner"}]


def test_to_dict_cause_chain_with_cycle_terminates():
    a = ConfigError("a")
    b = ValueError("b")
    c = KeyError("c")
    a.__cause__ = b
    b.__cause__ = c
    c.__cause__ = b  # a cycle not through the error itself
    assert [cause["type"] for cause in a.to_dict()["causes"]] == ["ValueError", "KeyError"]
    d = ConfigError("d")
    e = ValueError("e")
    d.__cause__ = e
    e.__cause__ = d  # a cycle back to the error itself
    assert [cause["type"] for cause in d.to_dict()["causes"]] == ["ValueError"]
    f = ConfigError("f")
    f.__cause__ = f
    assert f.to_dict()["causes"] == []


# --- pickling ---------------------------------------------------------------------------


class CardDeclined(NonRetryableError):
    """A user subclass with its own constructor, as handlers define them."""

    def __init__(self, card: str, amount: int) -> None:
        super().__init__(f"card {card} declined for {amount}")
        self.card = card
        self.amount = amount


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_pickles(cls):
    error = SAMPLES[cls]
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.message == error.message
    assert copy.args == error.args
    assert copy.context == error.context
    assert copy.code == error.code
    assert copy.to_dict() == error.to_dict()


def test_user_subclass_pickles():
    error = CardDeclined("visa", 100)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CardDeclined
    assert (copy.card, copy.amount, str(copy)) == ("visa", 100, "card visa declined for 100")


def test_pickled_copy_is_independent():
    error = InputValidationError("input", ["a"])
    copy = pickle.loads(pickle.dumps(error))
    copy.issues.append("b")
    assert error.issues == ["a"]


# --- describe_error and pytest ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ValueError("boom"), "ValueError: boom"),
        (ValueError(), "ValueError"),
        (WorkflowNotFoundError("x"), 'WorkflowNotFoundError: Workflow "x" not found'),
        (StepTimeoutError(2, "s"), 'StepTimeoutError: Step "s" timed out after 2s'),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
    ],
)
def test_describe_error(error, text):
    assert describe_error(error) == text


def test_test_run_incomplete_error_is_not_collected():
    assert TestRunIncompleteError.__test__ is False
