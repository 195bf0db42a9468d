"""The workflow builder: immutability, one namespace of names, build-time validation.

Covers API.md "Workflows" (builder bullets) and reflow-ts §2 WB: every builder
method returns a new workflow, names are unique across steps, branches, sleeps
and waits (``DuplicateStepError`` at build time), ``when`` on a branch and an
empty ``parallel`` are ``ConfigError``, and bad durations and retry policies are
refused when the workflow is built, naming the bad value.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from reflow_actors import Branch, Retry, create_workflow
from reflow_actors.errors import ConfigError, DuplicateStepError

pytestmark = pytest.mark.timeout(10)


def noop(ctx):
    return None


def other(ctx):
    return 1


def test_every_builder_method_returns_a_new_workflow_and_leaves_the_receiver_alone():
    base = create_workflow("immutable").step("first", noop)

    with_step = base.step("a", noop)
    with_other_step = base.step("b", noop)
    with_group = base.parallel({"x": noop, "y": noop})
    with_sleep = base.sleep("nap", "1s")
    with_wait = base.wait_for_event("go")
    with_failure = base.on_failure(noop)

    for derived in (with_step, with_other_step, with_group, with_sleep, with_wait, with_failure):
        assert derived is not base
    assert [unit.name for unit in base.units] == ["first"]
    assert base.failure_handler is None
    assert [unit.name for unit in with_step.units] == ["first", "a"]
    assert [unit.name for unit in with_other_step.units] == ["first", "b"]
    assert len(with_group.units) == 2
    assert with_failure.failure_handler is noop
    assert len(with_failure.units) == 1


def test_a_name_taken_by_a_derived_workflow_stays_free_on_its_base():
    base = create_workflow("names")
    base.step("shared", noop)
    # The derived workflow's name must not leak into the base's namespace.
    assert [unit.name for unit in base.step("shared", noop).units] == ["shared"]


def test_on_failure_replaces_the_handler_and_survives_later_units():
    wf = create_workflow("fh").on_failure(noop).on_failure(other).step("a", noop)
    assert wf.failure_handler is other
    assert wf.parallel({"b": noop}).sleep("s", 1).failure_handler is other


@pytest.mark.parametrize(
    ("build", "clash"),
    [
        (lambda w: w.step("x", noop).step("x", noop), "x"),
        (lambda w: w.step("x", noop).parallel({"x": noop}), "x"),
        (lambda w: w.parallel({"x": noop}).parallel({"y": noop, "x": noop}), "x"),
        (lambda w: w.parallel({"x": noop}).step("x", noop), "x"),
        (lambda w: w.step("x", noop).sleep("x", "1s"), "x"),
        (lambda w: w.sleep("x", "1s").wait_for_event("x"), "x"),
        (lambda w: w.wait_for_event("x").step("x", noop), "x"),
        (lambda w: w.step("x", noop).wait_for_event("x"), "x"),
    ],
    ids=[
        "step-step",
        "step-branch",
        "branch-branch-across-groups",
        "branch-step",
        "step-sleep",
        "sleep-wait",
        "wait-step",
        "step-wait",
    ],
)
def test_a_repeated_name_across_unit_kinds_raises_duplicate_step_error_at_build_time(build, clash):
    with pytest.raises(DuplicateStepError) as raised:
        build(create_workflow("dupes"))
    assert f'"{clash}"' in str(raised.value)
    assert '"dupes"' in str(raised.value)
    assert isinstance(raised.value, ConfigError)


def test_a_branch_with_when_is_a_config_error():
    with pytest.raises(ConfigError, match="when"):
        Branch(noop, when=lambda c: True)  # type: ignore[call-arg]


def test_an_empty_parallel_group_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one branch"):
        create_workflow("empty-group").parallel({})


@pytest.mark.parametrize("bad", ["5 minutes", "10x", "-3s", -1, float("nan"), True, [1]])
def test_an_invalid_sleep_duration_is_a_config_error_naming_the_value(bad):
    with pytest.raises(ConfigError) as raised:
        create_workflow("sleepy").sleep("nap", bad)
    assert repr(bad) in str(raised.value)


@pytest.mark.parametrize("bad", ["soon", 0, -2, "0s"])
def test_an_invalid_step_timeout_is_a_config_error_naming_the_value(bad):
    with pytest.raises(ConfigError) as raised:
        create_workflow("timed").step("a", noop, timeout=bad)
    assert repr(bad) in str(raised.value)


@pytest.mark.parametrize("bad", ["forever", 0, -5])
def test_an_invalid_wait_timeout_is_a_config_error_naming_the_value(bad):
    with pytest.raises(ConfigError) as raised:
        create_workflow("waits").wait_for_event("go", timeout=bad)
    assert repr(bad) in str(raised.value)


@pytest.mark.parametrize("bad", ["soon", 0, -1])
def test_an_invalid_branch_timeout_is_a_config_error_naming_the_value(bad):
    with pytest.raises(ConfigError) as raised:
        Branch(noop, timeout=bad)
    assert repr(bad) in str(raised.value)


def test_durations_accept_seconds_timedeltas_and_unit_strings():
    wf = (
        create_workflow("durations")
        .step("a", noop, timeout="250ms")
        .step("b", noop, timeout=timedelta(minutes=2))
        .step("c", noop, timeout=1.5)
        .sleep("d", "7d")
    )
    assert [unit.timeout for unit in wf.units[:3]] == [0.25, 120.0, 1.5]
    assert wf.units[3].seconds == 7 * 24 * 3600


@pytest.mark.parametrize(
    "options",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"max_attempts": 1.5},
        {"max_attempts": True},
        {"backoff": "quadratic"},
        {"initial_delay": -1},
        {"initial_delay": "later"},
        {"max_delay": "-1s"},
        {"timeout": 0},
        {"timeout": "never"},
    ],
    ids=lambda options: "-".join(f"{k}={v!r}" for k, v in options.items()),
)
def test_an_invalid_retry_policy_is_refused_when_built_naming_the_value(options):
    with pytest.raises(ConfigError) as raised:
        Retry(**options)
    (value,) = options.values()
    assert repr(value) in str(raised.value)


def test_retry_defaults_are_one_attempt_exponential_one_second():
    policy = Retry()
    assert (policy.max_attempts, policy.backoff, policy.initial_delay) == (1, "exponential", 1.0)
    assert policy.max_delay is None
    assert policy.timeout is None


def test_a_step_retry_that_is_not_a_retry_object_is_a_config_error():
    with pytest.raises(ConfigError):
        create_workflow("r").step("a", noop, retry={"max_attempts": 3})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_a_step_name_must_be_a_non_empty_string(bad):
    with pytest.raises(ConfigError):
        create_workflow("names").step(bad, noop)  # type: ignore[arg-type]


def test_a_handler_that_is_not_callable_is_a_config_error():
    with pytest.raises(ConfigError):
        create_workflow("h").step("a", "not a function")  # type: ignore[arg-type]


def test_parallel_branches_keep_declaration_order_and_mix_bare_and_configured_forms():
    policy = Retry(max_attempts=3)
    wf = create_workflow("mix").parallel(
        {"zeta": noop, "alpha": Branch(other, retry=policy, timeout="2s"), "mid": noop}
    )
    (group,) = wf.units
    assert [branch.name for branch in group.branches] == ["zeta", "alpha", "mid"]
    alpha = group.branches[1]
    assert alpha.handler is other
    assert alpha.retry is policy
    assert alpha.timeout == 2.0
    assert group.branches[0].retry is None
