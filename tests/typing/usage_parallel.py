"""Parallel groups: ``dict[str, T]`` by default, a TypedDict with ``output=``.

Checked by mypy --strict (never executed).
"""

from __future__ import annotations

from typing import TypedDict

from typing_extensions import assert_type

from reflow_actors import Branch, Retry, StepContext, Workflow, create_workflow


class Customer(TypedDict):
    customer_id: str


class Geo(TypedDict):
    country: str


def fetch(ctx: StepContext[str, None]) -> Customer:
    return {"customer_id": ctx.input}


def score_a(ctx: StepContext[str, Customer]) -> int:
    assert_type(ctx.prev, Customer)  # every branch receives the group's prev
    return len(ctx.prev["customer_id"])


def score_b(ctx: StepContext[str, Customer]) -> int:
    return 2


async def async_score(ctx: StepContext[str, Customer]) -> int:
    return 3


def geo(ctx: StepContext[str, Customer]) -> Geo:
    return {"country": "NL"}


def label(ctx: StepContext[str, Customer]) -> str:
    return ctx.input


fetched = create_workflow("enrich", input=str).step("fetch", fetch)
assert_type(fetched, Workflow[str, Customer])

# Branches of one output type: prev becomes dict[str, T].
scores = fetched.parallel({"a": score_a, "b": score_b})
assert_type(scores, Workflow[str, dict[str, int]])

# Branch objects carry retry/timeout; an async Branch handler unwraps to its result.
# (A dict mixing Branch objects and bare handlers: see usage_parallel_mixed.py.)
assert_type(
    fetched.parallel(
        {
            "a": Branch(score_a, retry=Retry(max_attempts=2), timeout=2),
            "b": Branch(async_score, timeout="500ms"),
            "c": Branch(score_b),
        }
    ),
    Workflow[str, dict[str, int]],
)
assert_type(Branch(async_score), Branch[str, Customer, int])


def total(ctx: StepContext[str, dict[str, int]]) -> int:
    assert_type(ctx.prev, dict[str, int])
    return sum(ctx.prev.values())


assert_type(scores.step("total", total), Workflow[str, int])


# Branches of different types: name the merged record with output=.
class Enriched(TypedDict):
    geo: Geo
    label: str
    score: int


enriched = fetched.parallel(
    {"geo": geo, "label": label, "score": Branch(score_a, retry=Retry(3))}, output=Enriched
)
assert_type(enriched, Workflow[str, Enriched])


def merge(ctx: StepContext[str, Enriched]) -> str:
    assert_type(ctx.prev["geo"], Geo)
    assert_type(ctx.prev["score"], int)
    return ctx.prev["geo"]["country"] + ctx.prev["label"]


assert_type(enriched.step("merge", merge), Workflow[str, str])


# Chained groups: the second group's branches receive the first group's record.
def from_scores(ctx: StepContext[str, dict[str, int]]) -> bool:
    return ctx.prev["a"] > 0


assert_type(scores.parallel({"check": from_scores}), Workflow[str, dict[str, bool]])

# A group first in the workflow: its branches see prev None.


def first_branch(ctx: StepContext[str, None]) -> float:
    assert_type(ctx.prev, None)
    return 1.0


assert_type(
    create_workflow("fan", input=str).parallel({"x": first_branch}),
    Workflow[str, dict[str, float]],
)
