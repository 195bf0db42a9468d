"""``reflow_actors.testing.test_engine`` (reflow-ts §32 TE): runs to their end on a virtual clock.

Results come back by step name with status, output, error and attempts;
failures, retries, early completion and parallel groups are reported; invalid
input raises ``InputValidationError``. Durable time is virtual: a "7d" sleep
and hour-long retry delays finish instantly, ``events=`` are delivered, a
wait whose event is not given raises ``TestRunIncompleteError`` naming it, and
a wait with a timeout and no event fails with ``WaitTimeoutError``.

``test_engine`` is imported at module level on purpose: pytest must not
collect it as a test (it carries ``__test__ = False``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from reflow_actors import Hooks, Retry, StepStatus, create_workflow
from reflow_actors.errors import ConfigError, InputValidationError, TestRunIncompleteError
from reflow_actors.storage import MemoryStorage as StorageMemoryStorage
from reflow_actors.testing import MemoryStorage, test_engine


def _positive_x(value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("x"), int):
        raise ValueError("x must be an int")
    return value


MATH = (
    create_workflow("math", input=_positive_x)
    .step("double", lambda ctx: {"doubled": ctx.input["x"] * 2})
    .step("add-ten", lambda ctx: {"result": ctx.prev["doubled"] + 10})
)


def test_test_engine_is_importable_with_memory_storage_and_never_collected() -> None:
    assert test_engine.__test__ is False  # type: ignore[attr-defined]
    assert MemoryStorage is StorageMemoryStorage


@pytest.mark.timeout(10)
def test_results_are_keyed_by_step_name_with_status_output_error_and_attempts() -> None:
    result = test_engine(workflows=[MATH]).run(MATH, {"x": 5})
    assert result.status == "completed"
    assert set(result.steps) == {"double", "add-ten"}
    double = result.steps["double"]
    assert (double.status, double.output, double.error, double.attempts) == (
        StepStatus.COMPLETED,
        {"doubled": 10},
        None,
        1,
    )
    assert result.steps["add-ten"].output == {"result": 20}
    assert result.output == {"result": 20}


@pytest.mark.timeout(10)
def test_a_workflow_is_found_by_name_among_several_with_the_same_step_names() -> None:
    one = create_workflow("one").step("go", lambda ctx: "from one")
    two = create_workflow("two").step("go", lambda ctx: "from two")
    engine = test_engine(workflows=[one, two])
    assert engine.run("two", None).steps["go"].output == "from two"
    assert engine.run(one).steps["go"].output == "from one"


@pytest.mark.timeout(10)
def test_invalid_input_raises_input_validation_error() -> None:
    with pytest.raises(InputValidationError):
        test_engine(workflows=[MATH]).run(MATH, {"x": "five"})


@pytest.mark.timeout(10)
def test_bad_engine_options_are_refused_when_the_test_engine_is_made() -> None:
    with pytest.raises(ConfigError):
        test_engine(workflows=[MATH], concurrency=0)


@pytest.mark.timeout(10)
def test_a_failure_marks_only_the_failing_step_and_calls_on_failure() -> None:
    failures: list[Any] = []

    def bad(ctx: Any) -> Any:
        raise RuntimeError("kaboom")

    workflow = (
        create_workflow("partial")
        .step("ok", lambda ctx: {"x": 1})
        .step("bad", bad)
        .step("never", lambda ctx: "unreached")
        .on_failure(failures.append)
    )
    result = test_engine(workflows=[workflow]).run(workflow)
    assert result.status == "failed"
    assert result.steps["ok"].status is StepStatus.COMPLETED
    assert result.steps["ok"].output == {"x": 1}
    assert result.steps["bad"].status is StepStatus.FAILED
    assert result.steps["bad"].error == "RuntimeError: kaboom"
    assert result.error == "RuntimeError: kaboom"
    assert "never" not in result.steps
    assert [(f.step_name, str(f.error)) for f in failures] == [("bad", "kaboom")]


@pytest.mark.timeout(10)
def test_retries_with_hour_long_delays_finish_instantly() -> None:
    calls: list[int] = []

    def flaky(ctx: Any) -> Any:
        calls.append(ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError(f"try {ctx.attempt}")
        return {"success": True}

    workflow = create_workflow("retrying").step(
        "flaky", flaky, retry=Retry(max_attempts=3, backoff="exponential", initial_delay=3600)
    )
    started = time.monotonic()
    result = test_engine(workflows=[workflow]).run(workflow)
    assert time.monotonic() - started < 1
    assert result.status == "completed"
    assert (result.steps["flaky"].attempts, result.steps["flaky"].output) == (3, {"success": True})
    assert calls == [1, 2, 3]


@pytest.mark.timeout(10)
def test_early_completion_reports_the_completing_step_and_skips_the_rest() -> None:
    workflow = (
        create_workflow("early")
        .step("check", lambda ctx: ctx.complete({"done": True}))
        .step("never", lambda ctx: "unreached")
    )
    result = test_engine(workflows=[workflow]).run(workflow)
    assert result.status == "completed"
    check = result.steps["check"]
    assert (check.status, check.output, check.error) == (
        StepStatus.COMPLETED_EARLY,
        {"done": True},
        None,
    )
    assert "never" not in result.steps
    assert result.output == {"done": True}


@pytest.mark.timeout(10)
def test_a_skipped_step_is_reported_as_skipped_in_a_completed_run() -> None:
    workflow = (
        create_workflow("conditional")
        .step("a", lambda ctx: 1)
        .step("maybe", lambda ctx: "unreached", when=lambda ctx: False)
        .step("b", lambda ctx: {"prev": ctx.prev})
    )
    result = test_engine(workflows=[workflow]).run(workflow)
    assert result.status == "completed"
    assert result.steps["maybe"].status is StepStatus.SKIPPED
    assert result.steps["b"].output == {"prev": 1}  # the skipped step passed prev through


@pytest.mark.timeout(10)
def test_parallel_branches_are_reported_by_branch_name() -> None:
    workflow = (
        create_workflow("fan-out")
        .step("fetch", lambda ctx: {"data": 5})
        .parallel(
            {
                "doubled": lambda ctx: {"result": ctx.prev["data"] * 2},
                "tripled": lambda ctx: {"result": ctx.prev["data"] * 3},
            }
        )
        .step("merge", lambda ctx: {"sum": sum(v["result"] for v in ctx.prev.values())})
    )
    result = test_engine(workflows=[workflow]).run(workflow)
    assert {name: step.output for name, step in result.steps.items()} == {
        "fetch": {"data": 5},
        "doubled": {"result": 10},
        "tripled": {"result": 15},
        "merge": {"sum": 25},
    }


@pytest.mark.timeout(10)
def test_a_seven_day_sleep_and_an_event_finish_instantly() -> None:
    hooked: list[str] = []
    workflow = (
        create_workflow("slow-approval")
        .step("request", lambda ctx: "requested")
        .sleep("cool-off", "7d")
        .wait_for_event("approved", timeout="30d")
        .step("ship", lambda ctx: {"approved_by": ctx.prev["by"]})
    )
    engine = test_engine(
        workflows=[workflow], hooks=Hooks(on_step_complete=lambda e: hooked.append(e.step_name))
    )
    started = time.monotonic()
    result = engine.run(workflow, None, events={"approved": {"by": "alice"}})
    assert time.monotonic() - started < 1
    assert result.status == "completed"
    assert result.steps["cool-off"].status is StepStatus.COMPLETED
    assert result.steps["approved"].output == {"by": "alice"}
    assert result.steps["ship"].output == {"approved_by": "alice"}
    assert hooked == ["request", "cool-off", "approved", "ship"]
    assert [e.type for e in result.events][-1] == "run_complete"


@pytest.mark.timeout(10)
def test_a_wait_whose_event_is_not_given_raises_test_run_incomplete_naming_it() -> None:
    workflow = (
        create_workflow("needs-approval")
        .sleep("pause", "1d")
        .wait_for_event("manager-approval")
        .step("after", lambda ctx: ctx.prev)
    )
    with pytest.raises(TestRunIncompleteError) as incomplete:
        test_engine(workflows=[workflow]).run(workflow)
    assert "manager-approval" in str(incomplete.value)
    assert incomplete.value.code == "TEST_RUN_INCOMPLETE"
    assert incomplete.value.context["status"] == "waiting"


@pytest.mark.timeout(10)
def test_a_wait_with_a_timeout_and_no_event_fails_with_wait_timeout_error() -> None:
    workflow = (
        create_workflow("expiring")
        .wait_for_event("reply", timeout="7d")
        .step("after", lambda ctx: "unreached")
    )
    started = time.monotonic()
    result = test_engine(workflows=[workflow]).run(workflow)
    assert time.monotonic() - started < 1
    assert result.status == "failed"
    assert result.steps["reply"].status is StepStatus.FAILED
    assert str(result.steps["reply"].error).startswith("WaitTimeoutError:")
    assert "after" not in result.steps
