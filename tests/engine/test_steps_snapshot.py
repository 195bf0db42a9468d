"""``ctx.steps``: a deep read-only snapshot of earlier outputs, independent of ``prev``.

Covers API.md "StepContext" (``steps``) and "Details the contract fixes"
(``steps`` and its nested dicts and lists are read-only) and reflow-ts §9 SS:
assignment raises ``TypeError`` at every depth, mutating ``prev`` never shows
through ``steps``, a retried attempt sees the same snapshot, and skipped steps
are absent.
"""

from __future__ import annotations

import pytest

from reflow_actors import Retry, create_workflow

pytestmark = pytest.mark.timeout(10)

NESTED = {"nested": {"value": 1, "deeper": {"list": [1, {"x": 2}]}}, "items": [1, 2, 3]}


def set_top_level(steps):
    steps["new"] = 1


def delete_top_level(steps):
    del steps["a"]


def set_in_output(steps):
    steps["a"]["nested"] = None


def update_output(steps):
    steps["a"].update({"x": 1})


def set_two_deep(steps):
    steps["a"]["nested"]["value"] = 99


def pop_two_deep(steps):
    steps["a"]["nested"].pop("value")


def set_three_deep(steps):
    steps["a"]["nested"]["deeper"]["list"] = []


def set_list_item(steps):
    steps["a"]["items"][0] = 99


def append_to_list(steps):
    steps["a"]["items"].append(4)


def sort_list(steps):
    steps["a"]["items"].sort(reverse=True)


def augment_list(steps):
    items = steps["a"]["items"]
    items += [4]


def set_dict_inside_list(steps):
    steps["a"]["nested"]["deeper"]["list"][1]["x"] = 0


MUTATIONS = [
    set_top_level,
    delete_top_level,
    set_in_output,
    update_output,
    set_two_deep,
    pop_two_deep,
    set_three_deep,
    set_list_item,
    append_to_list,
    sort_list,
    augment_list,
    set_dict_inside_list,
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda f: f.__name__)
def test_every_level_of_steps_refuses_assignment_with_type_error(harness, mutation):
    outcome: dict = {}

    def probe(ctx):
        try:
            mutation(ctx.steps)
        except TypeError:
            outcome["raised"] = "TypeError"
        except Exception as error:
            outcome["raised"] = type(error).__name__
        outcome["after"] = ctx.steps["a"]

    wf = create_workflow("frozen").step("a", lambda ctx: NESTED).step("probe", probe)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()

    assert outcome["raised"] == "TypeError"
    assert outcome["after"] == NESTED
    assert engine.get_run_status(run.id).step("a").output == NESTED


def test_steps_values_still_read_like_plain_data(harness):
    seen: dict = {}

    def reader(ctx):
        output = ctx.steps["a"]
        seen["equal"] = output == NESTED
        seen["is_dict"] = isinstance(output, dict)
        seen["list"] = list(output["items"])
        seen["keys"] = sorted(ctx.steps)
        return {"copy": output}  # a read-only view can be returned as an output

    wf = create_workflow("readable").step("a", lambda ctx: NESTED).step("reader", reader)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert seen == {"equal": True, "is_dict": True, "list": [1, 2, 3], "keys": ["a"]}
    assert engine.get_run_status(run.id).step("reader").output == {"copy": NESTED}


def test_mutating_prev_never_changes_steps_or_the_persisted_output(harness):
    seen: dict = {}

    def mutate(ctx):
        ctx.prev["nested"]["value"] = 999
        ctx.prev["items"].append(4)
        seen["steps_in_b"] = ctx.steps["a"]["nested"]["value"]
        return "b"

    def check(ctx):
        seen["steps_in_c"] = ctx.steps["a"]
        return "c"

    wf = create_workflow("prev").step("a", lambda ctx: NESTED).step("b", mutate).step("c", check)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()

    assert seen["steps_in_b"] == 1
    assert seen["steps_in_c"] == NESTED
    assert engine.get_run_status(run.id).step("a").output == NESTED


def test_steps_accumulates_each_earlier_output_by_name(harness):
    seen: list[dict] = []

    def record(value):
        def handler(ctx):
            seen.append(dict(ctx.steps))
            return value

        return handler

    wf = (
        create_workflow("accumulate")
        .step("a", record({"fromA": 1}))
        .step("b", record({"fromB": 2}))
        .step("c", record(None))
    )
    engine = harness.engine([wf])
    engine.enqueue(wf, None)
    engine.tick()
    assert seen == [{}, {"a": {"fromA": 1}}, {"a": {"fromA": 1}, "b": {"fromB": 2}}]


def test_a_retried_attempt_sees_the_same_steps_as_the_first(harness):
    seen: list[tuple[int, dict]] = []

    def flaky(ctx):
        seen.append((ctx.attempt, dict(ctx.steps)))
        if ctx.attempt == 1:
            raise RuntimeError("transient")
        return "ok"

    wf = (
        create_workflow("retry-steps")
        .step("a", lambda ctx: {"fromA": "hello"})
        .step("b", flaky, retry=Retry(max_attempts=2, initial_delay=0))
    )
    engine = harness.engine([wf])
    engine.enqueue(wf, None)
    engine.tick()
    assert seen == [(1, {"a": {"fromA": "hello"}}), (2, {"a": {"fromA": "hello"}})]


def test_a_skipped_step_is_absent_from_steps_and_prev_passes_through(harness):
    seen: dict = {}

    def final(ctx):
        seen["steps"] = dict(ctx.steps)
        seen["prev"] = ctx.prev

    wf = (
        create_workflow("skip-steps")
        .step("a", lambda ctx: {"tier": "base"})
        .step("maybe", lambda ctx: {"tier": "premium"}, when=lambda c: False)
        .step("final", final)
    )
    engine = harness.engine([wf])
    engine.enqueue(wf, None)
    engine.tick()
    assert seen == {"steps": {"a": {"tier": "base"}}, "prev": {"tier": "base"}}
