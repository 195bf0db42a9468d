"""Parallel groups: merged outputs, per-branch retry and timeout, fail-fast with blame."""

from reflow_actors import Branch, FailureContext, Retry, StepContext, create_workflow
from reflow_actors.testing import test_engine


# --8<-- [start:workflow]
def fetch(ctx: StepContext) -> dict:
    return {"customer_id": ctx.input["customer_id"]}


def geo(ctx: StepContext) -> dict:
    return {"country": "NL"}


def credit(ctx: StepContext) -> dict:
    if ctx.attempt == 1:
        raise TimeoutError("bureau busy")
    return {"score": 712}


def merge(ctx: StepContext) -> dict:
    # prev is {branch name: output} in declaration order
    return {**ctx.prev["geo"], **ctx.prev["credit"], **ctx.steps["fetch"]}


enrich = (
    create_workflow("enrich")
    .step("fetch", fetch)
    .parallel(
        {
            "geo": geo,
            "credit": Branch(credit, retry=Retry(max_attempts=3, initial_delay=0.5), timeout=2),
        }
    )
    .step("merge", merge)
)
# --8<-- [end:workflow]


# --8<-- [start:failfast]
def slow_sibling(ctx: StepContext) -> dict:
    ctx.signal.wait(timeout=10)  # returns at once when the group is aborted
    ctx.signal.throw_if_aborted()
    return {"done": True}


def broken(ctx: StepContext) -> dict:
    raise ValueError("upstream returned 500")


def report(failure: FailureContext) -> None:
    print(f"on_failure: step_name={failure.step_name!r} error={failure.error!r}")


fanout = create_workflow("fanout").parallel({"slow": slow_sibling, "broken": broken})
fanout = fanout.on_failure(report)  # a new Workflow; the builder is immutable
# --8<-- [end:failfast]

if __name__ == "__main__":
    # --8<-- [start:run]
    te = test_engine(workflows=[enrich, fanout])  # each run: fresh storage, virtual time
    result = te.run(enrich, {"customer_id": "c-42"})
    print(result.status, result.output)
    print({name: (row.status.value, row.attempts) for name, row in result.steps.items()})

    result = te.run(fanout, None)
    for name, row in result.steps.items():
        print(f"{name:<7} {row.status:<7} {row.error}")
    # --8<-- [end:run]
