"""A run in the database whose workflow this engine does not register.

Several services may share one database, each engine registering only its own
workflows. An engine never claims, touches, fails or "repairs" a run of a
workflow it does not know, whether the run is pending, waiting on its lease to
go stale, or failed; the calls that would need the definition (``resume``,
``send_event``) raise ``WorkflowNotFoundError``. An engine that registers the
workflow then runs those runs normally.
"""

from __future__ import annotations

import sqlite3

import pytest

from reflow_actors import VirtualClock, create_workflow
from reflow_actors.errors import WorkflowNotFoundError

LEASE = 30


def _raw_runs(path):
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT id, status, lease_id, wake_at, updated_at FROM workflow_runs ORDER BY id"
        ).fetchall()
        steps = connection.execute(
            "SELECT run_id, name, status, attempts, updated_at FROM workflow_steps ORDER BY run_id"
        ).fetchall()
    finally:
        connection.close()
    return rows, steps


def _billing(calls):
    def charge(ctx):
        calls.append(ctx.run_id)
        return {"charged": ctx.input["amount"]}

    return (
        create_workflow("billing")
        .step("charge", charge)
        .wait_for_event("receipt-sent")
        .step("close", lambda ctx: "closed")
    )


@pytest.mark.timeout(20)
def test_runs_of_an_unregistered_workflow_are_left_untouched_then_run_by_an_engine_that_has_it(
    bench,
):
    clock = VirtualClock()
    calls: list[str] = []
    billing = _billing(calls)
    other = create_workflow("other").step("s", lambda ctx: "other ran")
    storage = bench.sqlite(clock=clock)
    owner = bench.engine(
        storage, [billing, other], clock=clock, lease_duration=LEASE, concurrency=5
    )

    # ``stale`` runs under a lease nobody renews, ``waiting`` waits, ``failed`` failed.
    stale = owner.enqueue(billing, {"amount": 6})
    assert storage.claim_next_run(["billing"]).id == stale.id
    waiting = owner.enqueue(billing, {"amount": 7})
    assert storage.claim_next_run(["billing"]).id == waiting.id
    assert storage.wait_run(waiting.id, storage_lease(storage, waiting.id), "receipt-sent", None)
    failed = owner.enqueue(billing, {"amount": 8})
    assert storage.claim_next_run(["billing"]).id == failed.id
    storage.update_run_status(failed.id, "failed")
    pending = owner.enqueue(billing, {"amount": 5})
    clock.advance(LEASE + 1)  # the lease of ``stale`` is now stale
    foreign = owner.enqueue(other, None)
    before = _raw_runs(storage.path)

    stranger = bench.engine(bench.sqlite(clock=clock), [other], clock=clock, lease_duration=LEASE)
    assert stranger.tick() == 1, "only the run of its own workflow"
    assert stranger.get_run_status(foreign.id).run.status == "completed"
    assert stranger.tick() == 0
    with pytest.raises(WorkflowNotFoundError) as raised:
        stranger.resume(failed.id)
    assert raised.value.workflow_name == "billing"
    with pytest.raises(WorkflowNotFoundError):
        stranger.send_event(waiting.id, "receipt-sent", {"ok": True})
    assert stranger.get_run_status(pending.id).run.status == "pending"

    after = _raw_runs(storage.path)
    untouched = {pending.id, stale.id, waiting.id, failed.id}
    assert [row for row in after[0] if row[0] in untouched] == [
        row for row in before[0] if row[0] in untouched
    ]
    assert [row for row in after[1] if row[0] in untouched] == [
        row for row in before[1] if row[0] in untouched
    ]
    assert calls == []
    assert bench.errors.seen == []

    # The engine that registers ``billing`` runs them: pending and stale to the wait,
    # the waiting one once its event arrives; the failed one on resume.
    assert owner.send_event(waiting.id, "receipt-sent", None) is True
    assert owner.resume(failed.id) is True
    assert owner.tick() == 4
    for run_id in (pending.id, stale.id, failed.id):
        assert owner.get_run_status(run_id).run.status == "waiting"
        assert owner.send_event(run_id, "receipt-sent", None) is True
    assert owner.get_run_status(waiting.id).run.status == "completed"
    assert owner.tick() == 3
    for run_id in untouched:
        info = owner.get_run_status(run_id)
        assert info.run.status == "completed", run_id
        assert info.step("close").output == "closed"
    assert sorted(calls) == sorted(untouched), "each charged once, by the owner"


def storage_lease(storage, run_id):
    """The lease a run holds (read below the API, which hides leases)."""
    connection = sqlite3.connect(f"file:{storage.path}?mode=ro", uri=True)
    try:
        (lease,) = connection.execute(
            "SELECT lease_id FROM workflow_runs WHERE id = ?", (run_id,)
        ).fetchone()
    finally:
        connection.close()
    return lease
