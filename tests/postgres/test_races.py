"""Adapters racing each other (each with its own pool: other processes, in effect)."""

from __future__ import annotations

from typing import Any

import pytest

from reflow_actors.errors import SerializationError, StorageError
from reflow_actors.records import RunStatus, StepResult, StepStatus, TakenEvent
from tests.postgres.conftest import admin
from tests.postgres.helpers import Make, claim, make_run, parallel

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def make(make_storage: Make) -> Make:
    return make_storage


# -- races between adapters (each its own pool: other processes, in effect) ------------


@pytest.mark.timeout(60)
def test_batch_claims_from_four_adapters_never_overlap(make: Make) -> None:
    storages = [make() for _ in range(4)]
    for index in range(300):
        storages[0].create_run(make_run(f"r{index:03d}", created_at=index))

    def drain(index: int) -> list[str]:
        storage = storages[index % 4]
        mine: list[str] = []
        while batch := storage.claim_runs(["test"], 7):
            mine.extend(claimed.run.id for claimed in batch)
        return mine

    claimed = [run_id for mine in parallel(8, drain) for run_id in mine]
    assert sorted(claimed) == [f"r{index:03d}" for index in range(300)]


@pytest.mark.timeout(120)
def test_a_delivery_racing_a_wait_never_strands_the_run(make: Make) -> None:
    waiter, sender = make(), make()
    for index in range(60):
        run_id = f"race-{index}"
        lease = claim(waiter, run_id)

        def act(side: int, run_id: str = run_id, lease: str = lease, index: int = index) -> bool:
            if side == 0:
                return waiter.wait_run(run_id, lease, "go", None)
            return sender.deliver_event(run_id, "go", {"n": index})

        assert parallel(2, act) == [True, True]
        stored = waiter.get_run(run_id)
        assert stored is not None
        # Whichever came first, the event is buffered and the run is claimable.
        assert stored.status is RunStatus.PENDING, f"{run_id} stranded as {stored.status}"
        claimed = sender.claim_next_run(["test"])
        assert claimed is not None
        assert claimed.id == run_id
        assert sender.take_event(run_id, "go") == TakenEvent({"n": index})
        sender.update_run_status(run_id, RunStatus.COMPLETED)


@pytest.mark.timeout(120)
def test_no_write_with_the_old_lease_lands_after_a_stale_reclaim(
    make: Make, dsn: str, schema: str
) -> None:
    writer, reclaimer = make(), make()
    # Every step write takes 20 ms inside the server: a wide window for a reclaim
    # to slip in between the writer's lease check and its commit, unless the
    # check holds the run's row until then.
    with admin(dsn) as connection:
        connection.execute(
            f'CREATE FUNCTION "{schema}".slow() RETURNS trigger LANGUAGE plpgsql AS '
            "$$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$"
        )
        connection.execute(
            f'CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON "{schema}".workflow_steps '
            f'FOR EACH ROW EXECUTE FUNCTION "{schema}".slow()'
        )
    for round_number in range(10):
        run_id = f"fenced-{round_number}"
        lease = claim(writer, run_id)
        accepted: list[str] = []
        seen_at_reclaim: list[str] = []

        def act(
            side: int,
            run_id: str = run_id,
            lease: str = lease,
            accepted: list[str] = accepted,
            seen_at_reclaim: list[str] = seen_at_reclaim,
        ) -> None:
            if side == 0:  # the old holder keeps saving rows until it is refused
                for index in range(10_000):
                    name = f"s{index}"
                    step = StepResult(name, StepStatus.COMPLETED, index, run_id=run_id)
                    if not writer.save_progress(run_id, lease, [step]):
                        return
                    accepted.append(name)
                raise AssertionError("the old lease was never refused")
            while len(accepted) < 3:  # let a few writes land first
                pass
            while (taken := reclaimer.claim_next_run(["test"], stale_before=2**62)) is None:
                pass  # the writer's row lock makes the claim skip the run; try again
            assert taken.id == run_id
            seen_at_reclaim.extend(row.name for row in reclaimer.get_step_results(run_id))

        parallel(2, act)
        final = [row.name for row in writer.get_step_results(run_id)]
        assert final == seen_at_reclaim, "a write with the old lease landed after the reclaim"
        assert final == accepted  # and every accepted write is there
        writer.update_run_status(run_id, RunStatus.COMPLETED)


@pytest.mark.timeout(60)
def test_concurrent_takes_hand_out_each_event_once(make: Make) -> None:
    storages = [make() for _ in range(3)]
    storages[0].create_run(make_run())
    for index in range(60):
        storages[0].deliver_event("run_1", "e", index)

    def take(index: int) -> list[int]:
        storage, got = storages[index % 3], []
        while (event := storage.take_event("run_1", "e")) is not None:
            got.append(event.payload)
        return got

    taken = [payload for got in parallel(6, take) for payload in got]
    assert sorted(taken) == list(range(60))


# -- consume_event ---------------------------------------------------------------------


def _row(name: str, payload: Any) -> list[StepResult]:
    return [StepResult(name, StepStatus.COMPLETED, payload, run_id="run_1")]


def test_consume_event_takes_the_event_and_records_the_row_together(make: Make) -> None:
    storage = make()
    lease = claim(storage)
    storage.deliver_event("run_1", "e", {"n": 1})
    storage.deliver_event("run_1", "e", {"n": 2})
    taken = storage.consume_event("run_1", lease, "e", lambda payload: _row("e", payload))
    assert taken == TakenEvent({"n": 1})
    rows = storage.get_step_results("run_1")
    assert [(row.name, row.output) for row in rows] == [("e", {"n": 1})]
    assert storage.take_event("run_1", "e") == TakenEvent({"n": 2})
    assert storage.consume_event("run_1", lease, "e", lambda p: _row("e", p)) is None


def test_consume_event_without_the_lease_changes_nothing(make: Make) -> None:
    storage = make()
    claim(storage)
    storage.deliver_event("run_1", "e", 1)
    assert storage.consume_event("run_1", "not-the-lease", "e", lambda p: _row("e", p)) is None
    assert storage.get_step_results("run_1") == []
    assert storage.take_event("run_1", "e") == TakenEvent(1)


def test_a_failing_consume_event_puts_nothing_back_because_it_took_nothing(make: Make) -> None:
    storage = make()
    lease = claim(storage)
    storage.deliver_event("run_1", "e", 1)
    with pytest.raises(SerializationError):
        storage.consume_event("run_1", lease, "e", lambda p: _row("e", {1, 2}))
    with pytest.raises(StorageError):
        storage.consume_event("run_1", lease, "e", lambda p: 1 / 0)  # type: ignore[arg-type,return-value]
    assert storage.get_step_results("run_1") == []
    assert storage.take_event("run_1", "e") == TakenEvent(1)
