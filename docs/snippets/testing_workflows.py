"""Testing workflows with test_engine: plain test functions, as pytest would collect them.

Run directly, it calls each test function itself; put the same functions in a
``test_*.py`` file and pytest runs them.
"""

# --8<-- [start:workflow]
from reflow_actors import Retry, StepContext, create_workflow
from reflow_actors.errors import TestRunIncompleteError
from reflow_actors.testing import test_engine


def charge(ctx: StepContext) -> dict:
    if ctx.attempt == 1:
        raise ConnectionError("card network unreachable")
    return {"charged": ctx.input["amount"]}


def refund(ctx: StepContext) -> dict:
    return {"refunded": ctx.steps["charge"]["charged"]}


order = (
    create_workflow("order")
    .step("charge", charge, retry=Retry(max_attempts=3, initial_delay="30s"))
    .sleep("grace-period", "14d")
    .wait_for_event("return-requested", timeout="30d")
    .step("refund", refund, when=lambda ctx: ctx.prev["accepted"])
)
# --8<-- [end:workflow]


# --8<-- [start:tests]
def test_a_returned_order_is_refunded() -> None:
    te = test_engine(workflows=[order])
    result = te.run(order, {"amount": 4900}, events={"return-requested": {"accepted": True}})

    assert result.status == "completed"
    assert result.steps["charge"].attempts == 2  # the 30 s retry delay took no time
    assert result.steps["refund"].output == {"refunded": 4900}
    assert result.output == {"refunded": 4900}  # the last unit's output


def test_a_rejected_return_skips_the_refund() -> None:
    te = test_engine(workflows=[order])
    result = te.run(order, {"amount": 4900}, events={"return-requested": {"accepted": False}})

    assert result.status == "completed"
    assert result.steps["refund"].status == "skipped"
    assert [event.type for event in result.events][-2:] == ["step_skipped", "run_complete"]


def test_no_return_request_times_out_after_30_days() -> None:
    result = test_engine(workflows=[order]).run(order, {"amount": 100})

    assert result.status == "failed"
    assert result.error.startswith("WaitTimeoutError")


def test_a_wait_without_timeout_needs_its_event() -> None:
    forever = create_workflow("forever").wait_for_event("signed")
    try:
        test_engine(workflows=[forever]).run(forever, None)
    except TestRunIncompleteError as error:
        assert 'waits for event "signed"' in str(error)
    else:
        raise AssertionError("expected TestRunIncompleteError")


# --8<-- [end:tests]


if __name__ == "__main__":
    for test in (
        test_a_returned_order_is_refunded,
        test_a_rejected_return_skips_the_refund,
        test_no_return_request_times_out_after_30_days,
        test_a_wait_without_timeout_needs_its_event,
    ):
        test()
        print("passed:", test.__name__)
