"""Parallel enrichment: fetch a record, enrich it from three sources at once, merge.

    fetch-customer -> parallel { geo, credit, social } -> merge

The three enrichers run concurrently (``.parallel``). Each branch is durable
on its own: a branch that finished is never called again, even if the run is
recovered after a crash. ``credit`` calls a slow, flaky bureau, so it is a
:class:`~reflow_actors.Branch` with its own per-attempt ``timeout`` and
``retry``: here its first attempt hangs, is cut off by the timeout, and the
second attempt succeeds. The group is fail-fast: had ``credit`` run out of
attempts, its siblings would have been aborted and the run failed.

``output=Enrichment`` tells the type checker what the merged ``prev`` looks
like (a TypedDict keyed by branch name), so ``merge`` is fully typed::

    python examples/parallel_enrichment.py [path/to/enrichment.db]
"""

from __future__ import annotations

import sys
from typing import Any, TypedDict

from reflow_actors import Branch, Retry, StepContext, Workflow, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

CREDIT_TIMEOUT_SECONDS = 0.5


class Lookup(TypedDict):
    """The workflow input (no schema: plain data, typed for the checker only)."""

    customer_id: str


class Customer(TypedDict):
    customer_id: str
    name: str
    ip: str
    email: str


class Geo(TypedDict):
    country: str
    city: str


class Credit(TypedDict):
    score: int
    bureau_attempt: int


class Social(TypedDict):
    followers: int
    handle: str


class Enrichment(TypedDict):
    """The parallel group's output: one key per branch."""

    geo: Geo
    credit: Credit
    social: Social


class Profile(TypedDict):
    customer_id: str
    name: str
    country: str
    score: int
    followers: int
    risk: str


CUSTOMERS = {
    "c-42": Customer(customer_id="c-42", name="Grace", ip="203.0.113.7", email="grace@example.com")
}


def fetch_customer(ctx: StepContext[Lookup, None]) -> Customer:
    return CUSTOMERS[ctx.input["customer_id"]]


def geo_lookup(ctx: StepContext[Lookup, Customer]) -> Geo:
    return (
        Geo(country="NL", city="Utrecht")
        if ctx.prev["ip"].startswith("203.")
        else Geo(country="??", city="??")
    )


def credit_score(ctx: StepContext[Lookup, Customer]) -> Credit:
    if ctx.attempt == 1:
        # The bureau hangs. The branch timeout aborts this attempt's signal; a
        # well-behaved handler waits on the signal rather than time.sleep, so it
        # stops as soon as it is told to.
        ctx.signal.wait(30)
        ctx.signal.throw_if_aborted()  # raises StepTimeoutError: a failed attempt
    return Credit(score=712, bureau_attempt=ctx.attempt)


def social_profile(ctx: StepContext[Lookup, Customer]) -> Social:
    return Social(followers=1234, handle="@" + ctx.prev["email"].split("@")[0])


def merge(ctx: StepContext[Lookup, Enrichment]) -> Profile:
    customer: Customer = ctx.steps["fetch-customer"]
    score = ctx.prev["credit"]["score"]
    return Profile(
        customer_id=customer["customer_id"],
        name=customer["name"],
        country=ctx.prev["geo"]["country"],
        score=score,
        followers=ctx.prev["social"]["followers"],
        risk="low" if score >= 700 else "review",
    )


enrichment: Workflow[Lookup, Profile] = (
    create_workflow("enrich-customer")
    .step("fetch-customer", fetch_customer)
    .parallel(
        {
            "geo": geo_lookup,
            "credit": Branch(
                credit_score,
                timeout=CREDIT_TIMEOUT_SECONDS,
                retry=Retry(max_attempts=3, backoff="fixed", initial_delay=0.05),
            ),
            "social": social_profile,
        },
        output=Enrichment,
    )
    .step("merge", merge)
)


def main(path: str = "enrichment.db", customer_id: str = "c-42") -> dict[str, Any]:
    """Enrich one customer; return the merged profile and each step's status and attempts."""
    storage = SQLiteStorage(path)
    try:
        with create_engine(storage=storage, workflows=[enrichment], concurrency=2) as engine:
            run = engine.enqueue(enrichment, Lookup(customer_id=customer_id))
            info = engine.wait(run.id, timeout=30)
    finally:
        storage.close()
    merged = info.step("merge")
    return {
        "run_id": info.run.id,
        "status": info.run.status.value,
        "steps": {step.name: (step.status.value, step.attempts) for step in info.steps},
        "profile": merged.output if merged else None,
    }


if __name__ == "__main__":
    outcome = main(*sys.argv[1:])
    print(f"run {outcome['run_id']}: {outcome['status']}")
    for name, (status, attempts) in outcome["steps"].items():
        print(f"  {name:<15} {status:<10} attempts={attempts}")
    print(f"  profile: {outcome['profile']}")
