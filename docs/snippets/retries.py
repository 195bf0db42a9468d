"""Retries with backoff, per-attempt timeouts, and errors that must not be retried."""

import time

from reflow_actors import Retry, StepContext, create_workflow
from reflow_actors.errors import NonRetryableError
from reflow_actors.retry import next_delay
from reflow_actors.testing import test_engine

# --8<-- [start:backoff]
policy = Retry(max_attempts=5, backoff="exponential", initial_delay="200ms", max_delay=1)
error = ConnectionError("flaky")
print("delays:", [next_delay(policy, attempt, error) for attempt in range(1, 5)])
# --8<-- [end:backoff]

# --8<-- [start:flaky]
calls: list[int] = []


def call_bureau(ctx: StepContext) -> dict:
    calls.append(ctx.attempt)
    if ctx.attempt < 3:
        raise ConnectionError(f"bureau unreachable (attempt {ctx.attempt})")
    return {"score": 712}


class CardDeclined(NonRetryableError):
    """Retrying will not help: fail the step now."""


def charge(ctx: StepContext) -> dict:
    raise CardDeclined("card declined: insufficient funds")


def slow_lookup(ctx: StepContext) -> dict:
    # Block on the signal, not time.sleep: a timeout (or a cancel) wakes it at once.
    if ctx.signal.wait(timeout=5):
        ctx.signal.throw_if_aborted()
    return {"found": True}


score = create_workflow("score").step(
    "bureau", call_bureau, retry=Retry(max_attempts=5, backoff="exponential", initial_delay=2)
)
pay = create_workflow("pay").step("charge", charge, retry=Retry(max_attempts=5))
lookup = create_workflow("lookup").step(
    "lookup", slow_lookup, retry=Retry(max_attempts=2, initial_delay=0.1), timeout="100ms"
)
# --8<-- [end:flaky]

if __name__ == "__main__":
    # --8<-- [start:run]
    te = test_engine(workflows=[score, pay, lookup])  # retry delays are skipped over

    result = te.run(score, None)
    print(result.status, result.steps["bureau"].attempts, "attempts, calls:", calls)

    result = te.run(pay, None)
    print(result.status, result.steps["charge"].attempts, "attempt:", result.error)

    started = time.monotonic()
    result = te.run(lookup, None)
    print(result.status, result.steps["lookup"].attempts, "attempts:", result.error)
    print("each timed-out attempt ended after 0.1s, not 5s:", time.monotonic() - started < 5)
    # --8<-- [end:run]
