"""Step outputs that cannot be persisted, or are too big: the step fails once, nothing is stored.

A handler's return value is encoded before anything is written. A value the
codec refuses (a set, bytes, an object, ``nan``, a dict with non-str keys), or
an encoding longer than ``max_output_bytes`` (default 1 MiB), fails the step
with ``SerializationError`` naming the step and where the bad value is. The
failure is not retried whatever the retry policy (retrying would return the
same value), the failed row carries no output, earlier outputs stay as they
were, and ``on_failure`` sees the error.
"""

from __future__ import annotations

import math

import pytest

from reflow_actors import Retry, create_workflow
from reflow_actors.engine import DEFAULT_MAX_OUTPUT_BYTES

MIB = 1024 * 1024


class Opaque:
    """Not plain data."""


UNPERSISTABLE = [
    pytest.param({"items": [1, 2, 3, {"x"}]}, "output.items[3]", id="set"),
    pytest.param({"blob": b"\x00\x01"}, "output.blob", id="bytes"),
    pytest.param({"obj": Opaque()}, "output.obj", id="object"),
    pytest.param({"ratio": math.nan}, "output.ratio", id="nan"),
    pytest.param({"scores": {1: "one"}}, "output.scores", id="non-str-key"),
]


def _flow(value, failures):
    calls = []

    def produce(ctx):
        calls.append(ctx.attempt)
        return value

    workflow = (
        create_workflow("produce")
        .step("first", lambda ctx: {"kept": True})
        .step("produce", produce, retry=Retry(max_attempts=3, initial_delay=0))
        .step("never", lambda ctx: "unreachable")
        .on_failure(failures.append)
    )
    return workflow, calls


def _assert_failed_once_at_produce(engine, run_id, calls, failures):
    info = engine.get_run_status(run_id)
    assert info.run.status == "failed"
    assert [(s.name, s.status) for s in info.steps] == [
        ("first", "completed"),
        ("produce", "failed"),
    ]
    assert info.step("first").output == {"kept": True}
    row = info.step("produce")
    assert row.output is None
    assert row.attempts == 1
    assert row.error.startswith("SerializationError: Cannot persist output")
    assert calls == [1], "a value that cannot be persisted is not retried"
    (failure,) = failures
    assert failure.step_name == "produce"
    assert failure.error.code == "SERIALIZATION"
    return row, failure.error


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize(("value", "path"), UNPERSISTABLE)
def test_an_output_that_cannot_be_persisted_fails_the_step_once_naming_path_and_step(
    bench, kind, value, path
):
    failures = []
    workflow, calls = _flow(value, failures)
    engine = bench.engine(bench.storage(kind), [workflow])
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    row, error = _assert_failed_once_at_produce(engine, run.id, calls, failures)
    assert error.path.startswith(path), error.path
    assert 'step "produce"' in row.error


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("size", "fits"),
    [(DEFAULT_MAX_OUTPUT_BYTES - 2, True), (DEFAULT_MAX_OUTPUT_BYTES - 1, False), (2 * MIB, False)],
    ids=["exactly-1MiB", "one-byte-over", "2MiB"],
)
def test_the_default_output_limit_is_one_mebibyte(bench, size, fits):
    assert DEFAULT_MAX_OUTPUT_BYTES == MIB
    failures = []
    workflow, calls = _flow("x" * size, failures)  # a JSON string encodes as size + 2 bytes
    storage = bench.sqlite()
    engine = bench.engine(storage, [workflow])
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    if fits:
        info = engine.get_run_status(run.id)
        assert info.run.status == "completed"
        assert len(info.step("produce").output) == size
        return
    row, error = _assert_failed_once_at_produce(engine, run.id, calls, failures)
    assert f"returned {size + 2} bytes" in row.error
    assert 'step "produce"' in row.error
    assert "max_output_bytes" in str(error)


@pytest.mark.timeout(10)
def test_the_output_limit_is_configurable(bench):
    failures = []
    workflow, calls = _flow({"text": "y" * 200}, failures)
    engine = bench.engine(bench.memory(), [workflow], max_output_bytes=100)
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    row, _ = _assert_failed_once_at_produce(engine, run.id, calls, failures)
    assert "100-byte limit" in row.error


@pytest.mark.timeout(10)
def test_complete_with_a_value_that_cannot_be_persisted_fails_the_run(bench):
    workflow = (
        create_workflow("early")
        .step("finish", lambda ctx: ctx.complete({"when": {1, 2}}))
        .step("never", lambda ctx: "unreachable")
    )
    engine = bench.engine(bench.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert [(s.name, s.status, s.output) for s in info.steps] == [("finish", "failed", None)]
    assert info.step("finish").error.startswith("SerializationError")


@pytest.mark.timeout(10)
def test_a_branch_output_that_cannot_be_persisted_fails_the_group_keeping_finished_branches(
    bench,
):
    workflow = create_workflow("fan").parallel(
        {"good": lambda ctx: {"fine": 1}, "bad": lambda ctx: {"raw": b"bytes"}}
    )
    engine = bench.engine(bench.sqlite(), [workflow])
    run = engine.enqueue(workflow, None)
    assert engine.tick() == 1
    info = engine.get_run_status(run.id)
    assert info.run.status == "failed"
    assert info.step("bad").status == "failed"
    assert info.step("bad").error.startswith("SerializationError")
    assert info.step("bad").output is None
    good = info.step("good")
    # The sibling either finished first (and its output is kept) or was aborted.
    if good.status == "completed":
        assert good.output == {"fine": 1}
    else:
        assert (good.status, good.output) == ("failed", None)
        assert good.error.startswith("Aborted:")
