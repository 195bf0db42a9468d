"""Retries, backoff delays, ``NonRetryableError`` and per-attempt timeouts.

Covers API.md "Retry and timeouts" and reflow-ts §8 ST: a step is tried up to
``max_attempts`` and records how many it took; delays follow the exponential,
linear and fixed curves (measured on a virtual clock: attempts start exactly
one delay apart); ``NonRetryableError`` fails at once; each attempt gets its
own timeout, which aborts its signal with ``StepTimeoutError`` and counts as an
attempt; a step's ``timeout`` beats ``Retry.timeout``; a sync handler that
ignores its timed-out signal is abandoned without holding up ``tick()`` and its
late result is never persisted; persisted errors read ``"Type: message"``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from reflow_actors import Retry, create_workflow
from reflow_actors.errors import NonRetryableError, StepTimeoutError
from reflow_actors.records import RunStatus, StepStatus

from .conftest import ProbeClock, wait_until

pytestmark = pytest.mark.timeout(15)


def failing_until(success_on: int, calls: list[int]):
    def handler(ctx):
        calls.append(ctx.attempt)
        if ctx.attempt < success_on:
            raise ValueError(f"attempt {ctx.attempt} failed")
        return {"attempt": ctx.attempt}

    return handler


def test_a_step_is_retried_until_it_succeeds_and_records_the_attempts(harness, recorder):
    calls: list[int] = []
    wf = create_workflow("retry").step(
        "flaky", failing_until(3, calls), retry=Retry(max_attempts=5, initial_delay=0)
    )
    engine = harness.engine([wf], hooks=recorder.hooks())
    run = engine.enqueue(wf, None)
    engine.tick()

    assert calls == [1, 2, 3]
    row = engine.get_run_status(run.id).step("flaky")
    assert (row.status, row.output, row.attempts, row.error) == (
        "completed",
        {"attempt": 3},
        3,
        None,
    )
    (complete,) = recorder.of_type("step_complete")
    assert complete.attempts == 3
    assert [e for e in recorder.types(run.id) if e[0] == "step_start"] == [("step_start", "flaky")]


def test_a_step_that_exhausts_its_attempts_fails_the_run_with_the_last_error(harness):
    calls: list[int] = []
    later: list[int] = []
    wf = (
        create_workflow("exhaust")
        .step("flaky", failing_until(99, calls), retry=Retry(max_attempts=2, initial_delay=0))
        .step("later", lambda ctx: later.append(1))
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()

    assert calls == [1, 2]
    assert later == []
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    assert [s.name for s in info.steps] == ["flaky"]
    row = info.step("flaky")
    assert (row.status, row.output, row.attempts) == ("failed", None, 2)
    assert row.error == "ValueError: attempt 2 failed"
    assert engine.tick() == 0


def test_without_retry_a_step_gets_exactly_one_attempt(harness):
    calls: list[int] = []
    wf = create_workflow("single").step("once", failing_until(2, calls))
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert calls == [1]
    row = engine.get_run_status(run.id).step("once")
    assert (row.status, row.attempts) == ("failed", 1)


class PaymentDeclined(NonRetryableError):
    pass


@pytest.mark.parametrize("error_type", [NonRetryableError, PaymentDeclined])
def test_a_non_retryable_error_fails_the_step_at_once(harness, error_type):
    calls: list[int] = []

    def declined(ctx):
        calls.append(ctx.attempt)
        raise error_type("card declined")

    wf = create_workflow("declined").step(
        "charge", declined, retry=Retry(max_attempts=5, initial_delay=0)
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert calls == [1]
    row = engine.get_run_status(run.id).step("charge")
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error == f"{error_type.__name__}: card declined"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("boom"), "ValueError: boom"),
        (KeyError("sku"), "KeyError: 'sku'"),
        (RuntimeError(), "RuntimeError"),
    ],
)
def test_a_persisted_step_error_reads_type_colon_message(harness, error, expected):
    def broken(ctx):
        raise error

    wf = create_workflow("errors").step("broken", broken)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).step("broken").error == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [(KeyboardInterrupt("stop!"), "KeyboardInterrupt: stop!"), (SystemExit(3), "SystemExit: 3")],
    ids=["KeyboardInterrupt", "SystemExit"],
)
def test_a_base_exception_from_a_handler_fails_only_its_step(harness, error, expected):
    def escape(ctx):
        raise error

    bad = create_workflow("escape").step("a", escape)
    good = create_workflow("fine").step("a", lambda ctx: "fine")
    engine = harness.engine([bad, good])
    failed = engine.enqueue(bad, None)
    engine.tick()
    assert engine.get_run_status(failed.id).step("a").error == expected
    assert engine.get_run_status(failed.id).run.status == RunStatus.FAILED
    # The engine (every actor of it) is still serving.
    ok = engine.enqueue(good, None)
    assert engine.tick() == 1
    assert engine.get_run_status(ok.id).step("a").output == "fine"


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ exploded")


def test_an_error_whose_message_cannot_be_rendered_still_fails_the_run(harness):
    def broken(ctx):
        raise Unprintable()

    wf = create_workflow("unprintable").step("a", broken)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    row = info.step("a")
    assert row.status == StepStatus.FAILED
    assert row.error.startswith("Unprintable")


def _attempt_times(harness, policy: Retry, attempts: int) -> list[float]:
    """Start times (virtual seconds) of each attempt of an always-failing step."""
    clock = ProbeClock()
    times: list[float] = []

    def always_fails(ctx):
        times.append(clock.now())
        raise ValueError("again")

    wf = create_workflow("backoff").step("s", always_fails, retry=policy)
    # A long lease keeps heartbeat timers far beyond the retry delays.
    engine = harness.engine([wf], clock=clock, lease_duration="1h")
    run = engine.enqueue(wf, None)
    ticking = harness.background(engine.tick)
    while not ticking.done():
        wait_until(lambda: ticking.done() or clock.pending(within=60) is not None)
        gap = clock.pending(within=60)
        if gap is not None and not ticking.done():
            clock.advance(gap)
    assert ticking.result(timeout=5) == 1
    row = engine.get_run_status(run.id).step("s")
    assert (row.status, row.attempts) == ("failed", attempts)
    assert len(times) == attempts
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (Retry(max_attempts=4, backoff="exponential", initial_delay=1), [1, 2, 4]),
        (Retry(max_attempts=4, backoff="linear", initial_delay="500ms"), [0.5, 1.0, 1.5]),
        (Retry(max_attempts=4, backoff="fixed", initial_delay=0.3), [0.3, 0.3, 0.3]),
        (
            Retry(max_attempts=4, backoff="exponential", initial_delay=1, max_delay=1.5),
            [1, 1.5, 1.5],
        ),
    ],
    ids=["exponential", "linear", "fixed", "exponential-capped"],
)
def test_retry_delays_follow_the_backoff_curve(harness, policy, delays):
    measured = _attempt_times(harness, policy, policy.max_attempts)
    assert measured == pytest.approx(delays, abs=1e-6)


def test_the_default_backoff_is_exponential_from_one_second(harness):
    assert _attempt_times(harness, Retry(max_attempts=3), 3) == pytest.approx([1, 2], abs=1e-6)


def test_a_step_without_a_timeout_is_not_limited(harness):
    wf = create_workflow("untimed").step("slow", lambda ctx: time.sleep(0.2) or "done")
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).step("slow").output == "done"


def test_a_fast_step_within_its_timeout_completes(harness):
    wf = create_workflow("fast").step("quick", lambda ctx: {"fast": True}, timeout=5)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert engine.get_run_status(run.id).step("quick").output == {"fast": True}


def test_a_timed_out_attempt_aborts_its_signal_counts_as_an_attempt_and_is_retried(harness):
    reasons: list[object] = []

    def slow_twice(ctx):
        if ctx.attempt < 3:
            ctx.signal.wait(5)
            reasons.append(ctx.signal.reason)
            ctx.signal.throw_if_aborted()
        return {"attempt": ctx.attempt}

    wf = create_workflow("timeouts").step(
        "slow", slow_twice, timeout=0.1, retry=Retry(max_attempts=3, initial_delay=0)
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    started = time.monotonic()
    engine.tick()
    assert time.monotonic() - started < 3

    row = engine.get_run_status(run.id).step("slow")
    assert (row.status, row.output, row.attempts) == ("completed", {"attempt": 3}, 3)
    wait_until(lambda: len(reasons) == 2)
    assert all(isinstance(reason, StepTimeoutError) for reason in reasons)


def test_a_timeout_without_retry_fails_the_step_with_step_timeout_error(harness):
    wf = create_workflow("timeout-fails").step("slow", lambda ctx: ctx.signal.wait(5), timeout=0.1)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    row = info.step("slow")
    assert row.status == StepStatus.FAILED
    assert row.error.startswith("StepTimeoutError: ")
    assert "timed out" in row.error
    assert row.attempts == 1


def test_the_step_timeout_takes_precedence_over_the_retry_timeout(harness):
    shorter_step = create_workflow("step-wins-short").step(
        "s", lambda ctx: ctx.signal.wait(10) and "late", timeout=0.1, retry=Retry(timeout=30)
    )
    longer_step = create_workflow("step-wins-long").step(
        "s", lambda ctx: time.sleep(0.3) or "finished", timeout=30, retry=Retry(timeout=0.05)
    )
    engine = harness.engine([shorter_step, longer_step], concurrency=2)
    short = engine.enqueue(shorter_step, None)
    long = engine.enqueue(longer_step, None)
    started = time.monotonic()
    engine.tick()
    assert time.monotonic() - started < 5

    assert engine.get_run_status(short.id).step("s").error.startswith("StepTimeoutError")
    assert engine.get_run_status(long.id).step("s").output == "finished"


def test_the_retry_timeout_applies_when_the_step_has_none(harness):
    wf = create_workflow("retry-timeout").step(
        "s",
        lambda ctx: ctx.signal.wait(10),
        retry=Retry(max_attempts=2, initial_delay=0, timeout=0.1),
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    row = engine.get_run_status(run.id).step("s")
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.error.startswith("StepTimeoutError")


def test_an_async_handler_is_cancelled_when_its_attempt_times_out(harness):
    cancelled = threading.Event()

    async def sleepy(ctx):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    wf = create_workflow("async-timeout").step("s", sleepy, timeout=0.1)
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    engine.tick()
    assert cancelled.wait(5)
    row = engine.get_run_status(run.id).step("s")
    assert row.status == StepStatus.FAILED
    assert row.error.startswith("StepTimeoutError")


def test_a_sync_handler_ignoring_its_timeout_is_abandoned_and_its_late_result_discarded(harness):
    release = threading.Event()
    finished = threading.Event()
    after: list[int] = []

    def stubborn(ctx):
        release.wait(10)  # ignores ctx.signal
        finished.set()
        return {"late": True}

    wf = (
        create_workflow("stubborn")
        .step("stubborn", stubborn, timeout=0.1)
        .step("after", lambda ctx: after.append(1))
    )
    engine = harness.engine([wf])
    run = engine.enqueue(wf, None)
    try:
        started = time.monotonic()
        assert engine.tick() == 1
        elapsed = time.monotonic() - started
        assert not finished.is_set(), "tick() waited for the abandoned handler"
        assert elapsed < 3
        row = engine.get_run_status(run.id).step("stubborn")
        assert row.status == StepStatus.FAILED
        assert row.error.startswith("StepTimeoutError")
    finally:
        release.set()

    assert finished.wait(5)
    label = f"StepActor[{run.id}/stubborn]"
    wait_until(
        lambda: all(t.name != label for t in threading.enumerate()),
        message="the abandoned handler's actor did not finish its job",
    )
    info = engine.get_run_status(run.id)
    assert info.run.status == RunStatus.FAILED
    row = info.step("stubborn")
    assert (row.status, row.output) == ("failed", None)
    assert info.step("after") is None
    assert after == []
