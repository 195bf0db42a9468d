"""A rule-based state machine: ``MemoryStorage`` and two ``SQLiteStorage`` must agree.

The machine drives three adapters with the same operations on one frozen
``VirtualClock`` (so every timestamp they stamp agrees): ``MemoryStorage`` (the
reference), ``SQLiteStorage`` on a temporary file, and ``SQLiteStorage(":memory:")``.
After every call the three results are compared, normalized: lease ids and
storage-generated step-row ids differ per adapter, so each is mapped through a
per-adapter table to a logical name (``lease3``, ``gen5``) in the order it was
first seen. After every rule the whole state is compared the same way (every
run, its step rows, its hidden ``lease_id`` and ``wake_at``, the event buffer,
the schedules), and invariants are checked on each adapter.

Beside the cross-adapter comparison the machine keeps a small model of its own,
so a bug both adapters share is caught too: which logical lease holds each run
(every fenced write must succeed exactly for it), the buffered events per
``(run, name)`` (taken oldest first), which runs exist and which idempotency
keys are taken, the order claims must follow (pending, then due, then stale,
oldest first), the step-row id conflicts a write must be refused for, and the
``list_runs`` order, filters and keyset pages.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as tally
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from reflow_actors.clock import VirtualClock
from reflow_actors.codec import canonical
from reflow_actors.errors import ConfigError, ReflowError, SerializationError, StorageError
from reflow_actors.records import (
    TERMINAL_STATUSES,
    CreatedRun,
    RunStatus,
    StepResult,
    StepStatus,
    TakenEvent,
    WorkflowRun,
    WorkflowSchedule,
)
from reflow_actors.storage import MemoryStorage, SQLiteStorage
from reflow_actors.storage.base import ClaimedRun

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, epoch seconds
WORKFLOWS = ("alpha", "beta", "gamma")
EVENT_NAMES = ("go", "stop")
STEP_NAMES = ("a", "b", "c")
GIVEN_IDS = ("given-1", "given-2")
MISSING = "missing-run"
BOGUS_LEASE = "not-a-lease"
SUSPENDED = (RunStatus.SLEEPING, RunStatus.WAITING)

# -- strategies --------------------------------------------------------------------------

UTC = timezone.utc
datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.sampled_from([0, 1, 1.0, -0.0, True, "1"])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | datetimes
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
REFUSED = st.sampled_from([{1, 2}, b"bytes", float("nan"), float("inf"), 2**64, object()])
refused_values = REFUSED | REFUSED.map(lambda bad: {"ok": 1, "bad": [bad]})

workflows = st.sampled_from(WORKFLOWS)
# Mostly names that match what create_run makes; empty and repeated names too.
name_lists = st.sampled_from(
    [["alpha"], ["alpha", "beta"], ["beta", "alpha", "alpha"], ["gamma", "beta"]]
) | st.lists(workflows, max_size=4)
# Ids sort differently by code point than by insertion; two non-ASCII letters check
# that SQLite's byte order (UTF-8) and Python's code-point order agree.
new_run_ids = st.text(alphabet="abé中", min_size=1, max_size=3)
run_statuses = st.sampled_from(list(RunStatus))
step_statuses = st.sampled_from(list(StepStatus))
offsets = st.sampled_from([-60_000, -1_000, -1, 0, 0, 0, 1, 1_000, 60_000])
stale_offsets = st.none() | st.sampled_from([-60_000, -1, 0, 0, 1_000])
wake_offsets = st.sampled_from([-1_000, 0, 1, 1_000, 60_000, 3_600_000])
# "current": a lease that holds some run now (the bundle is mostly released leases);
# "own": the drawn lease on its own run; "bogus": a lease never granted; "other": the
# drawn lease on another run.
aims = st.sampled_from(["current", "current", "current", "own", "own", "bogus", "other"])
places = st.sampled_from(["run", "run", "run", "missing"])
steps = st.builds(
    StepResult,
    name=st.sampled_from(STEP_NAMES),
    status=step_statuses,
    output=values,
    error=st.none() | st.text(max_size=4),
    attempts=st.integers(0, 3),
    created_at=st.sampled_from([0, 0, 0, 5, 1_000]),
    updated_at=st.integers(0, 10),
    id=st.sampled_from(["", "", "", *GIVEN_IDS]),
)


class Lease:
    """One logical claim: the lease the same claim returned on every adapter."""

    def __init__(self, number: int, run_id: str, raws: Sequence[str]) -> None:
        self.label = f"lease{number}"
        self.run_id = run_id
        self.raws = tuple(raws)

    def __repr__(self) -> str:
        return f"<{self.label} of {self.run_id!r}>"


@dataclass(frozen=True)
class RunState:
    """What the claim order and the filters depend on, as the last snapshot saw it."""

    id: str
    workflow: str
    status: RunStatus
    created_at: int
    updated_at: int
    wake_at: int | None


def _hidden_memory(adapter: MemoryStorage) -> tuple[dict[str, tuple[Any, Any]], dict[Any, int]]:
    """The lease and wake time of every run, and the buffered event counts (not in the API)."""
    with adapter._lock:
        runs = {row.id: (row.lease_id, row.wake_at) for row in adapter._runs.values()}
        events = {key: len(found) for key, found in adapter._events._events.items()}
    return runs, events


def _hidden_sqlite(adapter: SQLiteStorage) -> tuple[dict[str, tuple[Any, Any]], dict[Any, int]]:
    def read(connection: Any) -> tuple[list[Any], list[Any]]:
        runs = connection.execute("SELECT id, lease_id, wake_at FROM workflow_runs").fetchall()
        events = connection.execute(
            "SELECT run_id, event_name, count(*) FROM workflow_events GROUP BY run_id, event_name"
        ).fetchall()
        return runs, events

    runs, events = adapter._read("probe", read)
    return (
        {run_id: (lease, wake) for run_id, lease, wake in runs},
        {(run_id, name): count for run_id, name, count in events},
    )


class StorageModel(RuleBasedStateMachine):
    """Same operations on every adapter; same results, same state, model respected."""

    runs = Bundle("runs")
    leases = Bundle("leases")

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock(START, frozen=True)
        self.folder = Path(tempfile.mkdtemp(prefix="reflow-model-"))
        self.names = ["memory", "sqlite-file", "sqlite-memory"]
        self.adapters: list[Any] = []
        self.hidden: list[Callable[[], tuple[dict[str, tuple[Any, Any]], dict[Any, int]]]] = []
        try:
            memory = MemoryStorage(clock=self.clock)
            on_file = SQLiteStorage(
                self.folder / "reflow.db", durability="normal", clock=self.clock
            )
            in_memory = SQLiteStorage(":memory:", clock=self.clock)
            for adapter in (memory, on_file, in_memory):
                self.adapters.append(adapter)
                adapter.initialize()
        except BaseException:
            self.teardown()
            raise
        self.hidden = [
            lambda: _hidden_memory(memory),
            lambda: _hidden_sqlite(on_file),
            lambda: _hidden_sqlite(in_memory),
        ]
        count = len(self.adapters)
        # Translation tables: raw id on one adapter -> logical name.
        self.lease_of: list[dict[str, Lease]] = [{} for _ in range(count)]
        self.step_label: list[dict[str, str]] = [{} for _ in range(count)]
        # Row identity and order as last seen, per adapter.
        self.row_ids: list[dict[tuple[str, str], str]] = [{} for _ in range(count)]
        self.row_order: list[dict[str, list[str]]] = [{} for _ in range(count)]
        # The model.
        self.leases_granted = 0
        self.created_order: dict[str, int] = {}
        self.keys: dict[tuple[str, str], str] = {}
        self.holder: dict[str, Lease | None] = {}
        self.events: dict[tuple[str, str], deque[bytes]] = {}
        self.state: dict[str, RunState] = {}
        self.rows: dict[str, dict[str, str]] = {}  # run -> step name -> row id (reference)

    def teardown(self) -> None:
        for adapter in self.adapters:
            adapter.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- calling every adapter and comparing -----------------------------------------

    def _each(self, call: Callable[[int, Any], Any]) -> list[tuple[str, Any]]:
        results: list[tuple[str, Any]] = []
        for index, adapter in enumerate(self.adapters):
            try:
                results.append(("ok", call(index, adapter)))
            except ReflowError as error:
                results.append(("raised", error))
        return results

    def _same(self, what: str, results: list[tuple[str, Any]]) -> Any:
        """Compare normalized results; return the reference's view."""
        views = []
        for index, (kind, value) in enumerate(results):
            if kind == "raised":
                views.append(
                    (
                        "raised",
                        type(value).__name__,
                        getattr(value, "operation", None),
                        getattr(value, "path", None),
                    )
                )
            else:
                views.append(("ok", self._view(index, value)))
        for name, view in zip(self.names[1:], views[1:], strict=True):
            assert view == views[0], (
                f"{what}: {self.names[0]} gave {views[0]!r}; {name} gave {view!r}"
            )
        return views[0]

    @staticmethod
    def _raised(view: Any, kind: type[ReflowError], operation: str | None = None) -> bool:
        if view[0] != "raised" or view[1] != kind.__name__:
            return False
        return operation is None or view[2] == operation

    def _lease_view(self, index: int, raw: str | None) -> str | None:
        if raw is None:
            return None
        lease = self.lease_of[index].get(raw)
        return "fresh" if lease is None else lease.label

    def _step_id_view(self, index: int, raw: str) -> str:
        if raw in GIVEN_IDS:
            return raw
        table = self.step_label[index]
        if raw not in table:
            table[raw] = f"gen{len(table)}"
        return table[raw]

    def _view(self, index: int, value: Any) -> Any:
        if isinstance(value, WorkflowRun):
            return (
                "run",
                value.id,
                value.workflow,
                canonical(value.input),
                value.idempotency_key,
                type(value.status).__name__,
                value.status.value,
                value.created_at,
                value.updated_at,
                self._lease_view(index, value.lease_id),
            )
        if isinstance(value, StepResult):
            return (
                "step",
                value.run_id,
                value.name,
                type(value.status).__name__,
                value.status.value,
                canonical(value.output),
                value.error,
                value.attempts,
                value.created_at,
                value.updated_at,
                self._step_id_view(index, value.id),
            )
        if isinstance(value, WorkflowSchedule):
            return (
                "schedule",
                value.key,
                value.workflow,
                canonical(value.input),
                value.every,
                value.cron,
                value.next_run_at,
                value.created_at,
                value.updated_at,
            )
        if isinstance(value, CreatedRun):
            return ("created", self._view(index, value.run), value.created)
        if isinstance(value, ClaimedRun):
            return ("claimed", self._view(index, value.run), self._view(index, value.steps))
        if isinstance(value, TakenEvent):
            return ("event", canonical(value.payload))
        if isinstance(value, (list, tuple)):
            return [self._view(index, item) for item in value]
        if isinstance(value, dict):
            return {key: self._view(index, item) for key, item in value.items()}
        if value is None or isinstance(value, (bool, int, str)):
            return value
        raise TypeError(f"no view for {value!r}")

    # -- the model's helpers ---------------------------------------------------------

    def _aim(self, lease: Lease, aim: str, other: str) -> tuple[str, list[str], Lease | None]:
        """The run, the per-adapter lease and the logical lease a fenced call presents."""
        if aim == "current":
            held = sorted(
                (holder for holder in self.holder.values() if holder is not None),
                key=lambda holder: holder.label,
            )
            if held:
                lease = held[int(lease.label.removeprefix("lease")) % len(held)]
            return lease.run_id, list(lease.raws), lease
        if aim == "bogus":
            return lease.run_id, [BOGUS_LEASE] * len(self.adapters), None
        run_id = lease.run_id if aim == "own" else other
        return run_id, list(lease.raws), lease

    def _holds(self, run_id: str, presented: Lease | None) -> bool:
        """The model's answer: the presented lease is the one holding the run."""
        held = presented is not None and self.holder.get(run_id) is presented
        tally(f"fenced call, lease held: {held}")
        return held

    def _release(self, run_id: str) -> None:
        if run_id in self.holder:
            self.holder[run_id] = None

    def _grant(self, claimed: list[list[WorkflowRun]]) -> list[Lease]:
        """Register the leases one claim returned on every adapter (same runs, same order)."""
        granted: list[Lease] = []
        for position, run in enumerate(claimed[0]):
            raws = [runs[position].lease_id for runs in claimed]
            for index, raw in enumerate(raws):
                assert raw, f"{self.names[index]}: claim of {run.id!r} has no lease"
                assert raw not in self.lease_of[index], f"{self.names[index]}: lease reused"
            lease = Lease(self.leases_granted, run.id, raws)  # type: ignore[arg-type]
            self.leases_granted += 1
            for index, raw in enumerate(raws):
                self.lease_of[index][raw] = lease  # type: ignore[index]
            assert run.status is RunStatus.RUNNING
            self.holder[run.id] = lease
            granted.append(lease)
        ids = [lease.run_id for lease in granted]
        assert len(set(ids)) == len(ids), f"one claim returned a run twice: {ids}"
        return granted

    def _expected_claims(self, names: list[str], limit: int, stale_before: int | None) -> list[str]:
        """Claim order, written out: pending, then due, then stale; oldest created first."""
        if limit < 1 or not names:
            return []
        now = self.clock.now_ms()
        candidates = [run for run in self.state.values() if run.workflow in names]

        def oldest(group: list[RunState]) -> list[str]:
            group.sort(key=lambda run: (run.created_at, self.created_order[run.id]))
            return [run.id for run in group]

        pending = [run for run in candidates if run.status is RunStatus.PENDING]
        due = [
            run
            for run in candidates
            if run.status in SUSPENDED and run.wake_at is not None and run.wake_at <= now
        ]
        stale = [
            run
            for run in candidates
            if run.status is RunStatus.RUNNING
            and stale_before is not None
            and run.updated_at <= stale_before
        ]
        chosen = (oldest(pending) + oldest(due) + oldest(stale))[:limit]
        if len(due) > 1:
            tally("a claim with two or more due runs")
        by_wake = [run.id for run in sorted(due, key=lambda run: run.wake_at or 0)]
        if len(due) > 1 and by_wake != oldest(list(due)):
            tally("a claim with due runs woken out of creation order")
        for run_id in chosen:
            tally(f"claim takes a {self.state[run_id].status.value} run")
        return chosen

    def _id_conflict(self, run_id: str, batch: Sequence[StepResult]) -> bool:
        """Whether upserting ``batch`` must be refused: a new row reuses another row's id."""
        return self._conflict([(run_id, step) for step in batch])

    def _conflict(self, writes: Sequence[tuple[str, StepResult]]) -> bool:
        """Whether upserting ``writes`` in order must be refused (a new row takes a used id)."""
        owners = {
            row_id: (run, name) for run, rows in self.rows.items() for name, row_id in rows.items()
        }
        existing = {(run, name) for run, rows in self.rows.items() for name in rows}
        for run_id, step in writes:
            target = (run_id, step.name)
            if target in existing:
                continue  # the row keeps its own id
            existing.add(target)
            if step.id:
                owner = owners.get(step.id)
                if owner is not None and owner != target:
                    return True
                owners[step.id] = target
        return False

    def _step_for(self, run_id: str, step: StepResult) -> StepResult:
        return replace(step, run_id=run_id)

    def _status(self, run_id: str) -> RunStatus | None:
        run = self.state.get(run_id)
        return None if run is None else run.status

    # -- runs ------------------------------------------------------------------------

    @initialize(
        target=runs,
        specs=st.lists(st.tuples(workflows, offsets, values), min_size=1, max_size=4),
    )
    def seed_runs(self, specs):
        """A few pending runs to start with, so claims find work from the first step."""
        created = []
        for number, (workflow, offset, value) in enumerate(specs):
            run_id = f"seed{number}"
            now = self.clock.now_ms()
            run = WorkflowRun(run_id, workflow, value, None, RunStatus.PENDING, now + offset, now)
            results = self._each(lambda index, adapter, run=run: adapter.create_run(run))
            assert self._same("create_run", results)[0] == "ok"
            self.created_order[run_id] = len(self.created_order)
            self.holder[run_id] = None
            created.append(run_id)
        return multiple(*created)

    @rule(
        target=runs,
        run_id=new_run_ids,
        workflow=workflows,
        key=st.none() | st.sampled_from(["k1", "k2"]),
        status=st.just(RunStatus.PENDING) | run_statuses,
        created=offsets,
        updated=offsets,
        value=values,
    )
    def create_run(self, run_id, workflow, key, status, created, updated, value):
        now = self.clock.now_ms()
        run = WorkflowRun(run_id, workflow, value, key, status, now + created, now + updated)
        results = self._each(lambda index, adapter: adapter.create_run(run))
        view = self._same("create_run", results)
        keyed = None if key is None else self.keys.get((workflow, key))
        if keyed is not None:
            assert view[0] == "ok", view
            stored, created_now = results[0][1]
            assert not created_now
            assert stored.id == keyed
            return multiple()
        if run_id in self.created_order:
            assert self._raised(view, StorageError, "create_run"), view
            return multiple()
        assert view[0] == "ok", view
        stored, created_now = results[0][1]
        assert created_now
        assert self._view(0, stored) == self._view(0, run)
        self.created_order[run_id] = len(self.created_order)
        self.holder[run_id] = None
        if key is not None:
            self.keys[(workflow, key)] = run_id
        return run_id

    @rule(target=leases, names=name_lists, stale=stale_offsets)
    def claim_next_run(self, names, stale):
        stale_before = None if stale is None else self.clock.now_ms() + stale
        expected = self._expected_claims(names, 1, stale_before)
        results = self._each(lambda index, adapter: adapter.claim_next_run(names, stale_before))
        view = self._same("claim_next_run", results)
        assert view[0] == "ok", view
        if results[0][1] is None:
            assert expected == [], f"nothing claimed; expected {expected}"
            return multiple()
        assert [results[0][1].id] == expected
        return multiple(*self._grant([[claimed] for _, claimed in results]))

    @rule(
        target=leases,
        names=name_lists,
        limit=st.integers(-1, 4),
        stale=stale_offsets,
        mode=st.sampled_from(
            ["none", "none", "mark", "mark", "given", "raise", "foreign", "unstorable"]
        ),
    )
    def claim_runs(self, names, limit, stale, mode):
        stale_before = None if stale is None else self.clock.now_ms() + stale
        expected = self._expected_claims(names, limit, stale_before)
        seen: list[list[tuple[WorkflowRun, list[StepResult]]]] = [[] for _ in self.adapters]

        def prepare_for(index: int) -> Any:
            if mode == "none":
                return None

            def prepare(run: WorkflowRun, rows: list[StepResult]) -> list[StepResult]:
                seen[index].append((run, list(rows)))
                if mode == "raise":
                    raise RuntimeError("prepare refused")
                if mode == "foreign":
                    return [StepResult("attempt", StepStatus.RUNNING, run_id=MISSING)]
                if mode == "given":
                    return [StepResult("attempt", StepStatus.RUNNING, id=GIVEN_IDS[0])]
                output = {"seen": len(rows)} if mode == "mark" else {"bad": {1, 2}}
                return [StepResult("attempt", StepStatus.RUNNING, output, None, len(rows) + 1)]

            return prepare

        results = self._each(
            lambda index, adapter: adapter.claim_runs(
                names, limit, stale_before, prepare_for(index)
            )
        )
        view = self._same("claim_runs", results)
        if view[0] == "ok":
            self._same("what prepare saw", [("ok", calls) for calls in seen])
        else:
            # How many runs were prepared before the refusal is the adapter's business.
            assert all(seen), "claim_runs failed without calling prepare"
        if mode in ("raise", "foreign", "unstorable") and expected:
            kind = {"raise": StorageError, "foreign": ConfigError, "unstorable": SerializationError}
            assert self._raised(view, kind[mode]), view
            return multiple()
        if mode == "given":
            attempt = StepResult("attempt", StepStatus.RUNNING, id=GIVEN_IDS[0])
            if self._conflict([(run_id, attempt) for run_id in expected]):
                tally("claim_runs refused: a prepared row takes a used id")
                assert self._raised(view, StorageError, "claim_runs"), view
                return multiple()
        assert view[0] == "ok", view
        assert [claimed.run.id for claimed in results[0][1]] == expected
        for index, (_, claimed) in enumerate(results):
            if mode == "none":
                assert seen[index] == []
                continue
            for (prepared, _rows), got in zip(seen[index], claimed, strict=True):
                assert prepared.id == got.run.id
                assert prepared.lease_id == got.run.lease_id
                assert prepared.status is RunStatus.RUNNING
            for got in claimed:
                names_seen = [step.name for step in got.steps]
                assert len(set(names_seen)) == len(names_seen)
                if mode == "mark":
                    assert "attempt" in names_seen
        runs = [[claimed.run for claimed in batch] for _, batch in results]
        return multiple(*self._grant(runs))

    @rule(lease=leases, aim=aims, other=runs)
    def heartbeat_run(self, lease, aim, other):
        run_id, raws, presented = self._aim(lease, aim, other)
        results = self._each(lambda index, adapter: adapter.heartbeat_run(run_id, raws[index]))
        assert self._same("heartbeat_run", results) == ("ok", self._holds(run_id, presented))

    @rule(run=runs, place=places, status=run_statuses)
    def update_run_status(self, run, place, status):
        run_id = MISSING if place == "missing" else run
        results = self._each(lambda index, adapter: adapter.update_run_status(run_id, status))
        assert self._same("update_run_status", results) == ("ok", run_id in self.created_order)
        self._release(run_id)

    @rule(lease=leases, aim=aims, other=runs, status=run_statuses)
    def update_claimed_run_status(self, lease, aim, other, status):
        run_id, raws, presented = self._aim(lease, aim, other)
        held = self._holds(run_id, presented)
        results = self._each(
            lambda index, adapter: adapter.update_claimed_run_status(run_id, raws[index], status)
        )
        assert self._same("update_claimed_run_status", results) == ("ok", held)
        if held and status is not RunStatus.RUNNING:
            self._release(run_id)

    @rule(run=runs, place=places)
    def cancel_run(self, run, place):
        run_id = MISSING if place == "missing" else run
        status = self._status(run_id)
        results = self._each(lambda index, adapter: adapter.cancel_run(run_id))
        expected = status is not None and status not in TERMINAL_STATUSES
        assert self._same("cancel_run", results) == ("ok", expected)
        if expected:
            self._release(run_id)

    @rule(run=runs, place=places)
    def requeue_run(self, run, place):
        run_id = MISSING if place == "missing" else run
        status = self._status(run_id)
        results = self._each(lambda index, adapter: adapter.requeue_run(run_id))
        expected = status in (RunStatus.FAILED, RunStatus.CANCELLED)
        assert self._same("requeue_run", results) == ("ok", expected)
        tally(f"requeue_run: {expected}")
        if expected:
            self._release(run_id)
            # Failed rows are gone: forget their identity (the others must keep theirs).
            for index, adapter in enumerate(self.adapters):
                present = {step.name for step in adapter.get_step_results(run_id)}
                for name in [name for rid, name in self.row_ids[index] if rid == run_id]:
                    if name not in present:
                        del self.row_ids[index][(run_id, name)]

    # -- step rows -------------------------------------------------------------------

    @rule(lease=leases, aim=aims, other=runs, step=steps)
    def save_step_result_fenced(self, lease, aim, other, step):
        run_id, raws, presented = self._aim(lease, aim, other)
        row = self._step_for(run_id, step)
        held = self._holds(run_id, presented)
        results = self._each(lambda index, adapter: adapter.save_step_result(row, raws[index]))
        view = self._same("save_step_result", results)
        if held and self._id_conflict(run_id, [row]):
            tally("step id conflict")
            assert self._raised(view, StorageError, "save_step_result"), view
        else:
            assert view == ("ok", held), view

    @rule(run=runs, place=places | st.just("no run_id"), step=steps)
    def save_step_result_unfenced(self, run, place, step):
        run_id = MISSING if place == "missing" else run
        row = step if place == "no run_id" else self._step_for(run_id, step)
        results = self._each(lambda index, adapter: adapter.save_step_result(row))
        view = self._same("save_step_result", results)
        if place == "no run_id":
            assert self._raised(view, ConfigError), view
        elif self._id_conflict(run_id, [row]):
            tally("step id conflict")
            assert self._raised(view, StorageError, "save_step_result"), view
        else:
            assert view == ("ok", True), view

    @rule(
        lease=leases,
        aim=aims,
        other=runs,
        batch=st.lists(st.tuples(steps, st.sampled_from(["", "", "own", "foreign"])), max_size=3),
        status=st.none() | run_statuses,
    )
    def save_progress(self, lease, aim, other, batch, status):
        run_id, raws, presented = self._aim(lease, aim, other)
        rows = [
            replace(step, run_id={"": "", "own": run_id, "foreign": MISSING}[owner])
            for step, owner in batch
        ]
        # A later write of a name the batch already wrote is an update and keeps that
        # row's id; MemoryStorage checks its given id as if it made a new row (see
        # test_memory_treats_a_repeated_step_in_a_batch_as_an_update), so the machine
        # gives such writes no id.
        written: set[str] = set()
        for position, row in enumerate(rows):
            if row.name in written:
                rows[position] = replace(row, id="")
            written.add(row.name)
        held = self._holds(run_id, presented)
        results = self._each(
            lambda index, adapter: adapter.save_progress(run_id, raws[index], rows, status)
        )
        view = self._same("save_progress", results)
        if any(row.run_id not in ("", run_id) for row in rows):
            assert self._raised(view, ConfigError), view
        elif held and self._id_conflict(run_id, [self._step_for(run_id, row) for row in rows]):
            assert self._raised(view, StorageError, "save_progress"), view
        else:
            assert view == ("ok", held), view
            if held and status is not None and status is not RunStatus.RUNNING:
                self._release(run_id)

    # -- sleeping, waiting, events ---------------------------------------------------

    @rule(lease=leases, aim=aims, other=runs, wake=wake_offsets)
    def sleep_run(self, lease, aim, other, wake):
        self._sleep(*self._aim(lease, aim, other), wake)

    def _sleep(self, run_id: str, raws: list[str], presented: Lease | None, wake: int) -> None:
        held = self._holds(run_id, presented)
        wake_at = self.clock.now_ms() + wake
        results = self._each(lambda index, adapter: adapter.sleep_run(run_id, raws[index], wake_at))
        assert self._same("sleep_run", results) == ("ok", held)
        tally(f"sleep_run, lease held: {held}")
        if held:
            self._release(run_id)

    @rule(
        lease=leases,
        aim=aims,
        other=runs,
        event=st.sampled_from(EVENT_NAMES),
        wake=st.none() | wake_offsets,
    )
    def wait_run(self, lease, aim, other, event, wake):
        self._wait(*self._aim(lease, aim, other), event, wake)

    def _wait(
        self, run_id: str, raws: list[str], presented: Lease | None, event: str, wake: int | None
    ) -> None:
        held = self._holds(run_id, presented)
        wake_at = None if wake is None else self.clock.now_ms() + wake
        results = self._each(
            lambda index, adapter: adapter.wait_run(run_id, raws[index], event, wake_at)
        )
        assert self._same("wait_run", results) == ("ok", held)
        if held:
            self._release(run_id)
            stored = self.adapters[0].get_run(run_id)
            buffered = bool(self.events.get((run_id, event)))
            assert stored.status is (RunStatus.PENDING if buffered else RunStatus.WAITING)
            tally(f"wait_run with an event buffered: {buffered}")

    @precondition(lambda self: any(self.holder.values()))
    @rule(
        plans=st.lists(
            st.tuples(st.booleans(), st.sampled_from(EVENT_NAMES), st.none() | wake_offsets),
            min_size=1,
            max_size=4,
        )
    )
    def suspend_held_runs(self, plans):
        """Sleep or wait several held runs at once, so several become due together."""
        held = sorted(
            (holder for holder in self.holder.values() if holder is not None),
            key=lambda holder: holder.label,
        )
        for lease, (sleep, event, wake) in zip(held, plans, strict=False):
            if sleep:
                self._sleep(lease.run_id, list(lease.raws), lease, 0 if wake is None else wake)
            else:
                self._wait(lease.run_id, list(lease.raws), lease, event, wake)

    @rule(
        run=runs,
        place=places,
        event=st.sampled_from(EVENT_NAMES),
        payloads=st.lists(values, min_size=1, max_size=3),
    )
    def deliver_event(self, run, place, event, payloads):
        run_id = MISSING if place == "missing" else run
        status = self._status(run_id)
        for payload in payloads:
            results = self._each(
                lambda index, adapter, payload=payload: adapter.deliver_event(
                    run_id, event, payload
                )
            )
            assert self._same("deliver_event", results) == ("ok", status is not None)
            if status is not None:
                self.events.setdefault((run_id, event), deque()).append(canonical(payload))
                if status is RunStatus.WAITING:
                    assert self.adapters[0].get_run(run_id).status is RunStatus.PENDING

    def _taken(self, run_id: str, event: str, view: Any) -> None:
        queue = self.events.get((run_id, event))
        if queue and len(set(queue)) > 1:
            tally("take with two different payloads buffered")
        if not queue:
            assert view == ("ok", None), view
            return
        assert view == ("ok", ("event", queue[0])), f"expected the oldest {queue[0]!r}: {view}"
        tally("an event is taken")
        queue.popleft()

    @rule(run=runs, place=places, event=st.sampled_from(EVENT_NAMES))
    def take_event(self, run, place, event):
        run_id = MISSING if place == "missing" else run
        results = self._each(lambda index, adapter: adapter.take_event(run_id, event))
        self._taken(run_id, event, self._same("take_event", results))

    @rule(
        lease=leases,
        aim=aims,
        other=runs,
        event=st.sampled_from(EVENT_NAMES),
        mode=st.sampled_from(["rows", "rows", "given", "none", "raise", "foreign"]),
    )
    def consume_event(self, lease, aim, other, event, mode):
        run_id, raws, presented = self._aim(lease, aim, other)
        held = self._holds(run_id, presented)
        buffered = bool(self.events.get((run_id, event)))

        def rows(payload: Any) -> list[StepResult]:
            if mode == "raise":
                raise RuntimeError("rows refused")
            if mode == "none":
                return []
            owner = MISSING if mode == "foreign" else ""
            given = GIVEN_IDS[1] if mode == "given" else ""
            return [
                StepResult(f"got-{event}", StepStatus.COMPLETED, payload, run_id=owner, id=given)
            ]

        results = self._each(
            lambda index, adapter: adapter.consume_event(run_id, raws[index], event, rows)
        )
        view = self._same("consume_event", results)
        if not (held and buffered):
            assert view == ("ok", None), view
        elif mode == "raise":
            assert self._raised(view, StorageError, "consume_event"), view
        elif mode == "foreign":
            assert self._raised(view, ConfigError), view
        elif mode == "given" and self._id_conflict(
            run_id, [StepResult(f"got-{event}", StepStatus.COMPLETED, id=GIVEN_IDS[1])]
        ):
            assert self._raised(view, StorageError, "consume_event"), view
        else:
            self._taken(run_id, event, view)

    # -- listing ---------------------------------------------------------------------

    def _expected_list(
        self,
        status: RunStatus | None,
        workflow: str | None,
        before: int | None,
        before_id: str | None,
    ) -> list[str]:
        found = [
            run
            for run in self.state.values()
            if (status is None or run.status is status)
            and (workflow is None or run.workflow == workflow)
            and (
                before is None
                or run.created_at < before
                or (before_id is not None and run.created_at == before and run.id < before_id)
            )
        ]
        found.sort(key=lambda run: (run.created_at, run.id), reverse=True)
        return [run.id for run in found]

    @rule(
        status=st.none() | run_statuses,
        workflow=st.none() | workflows,
        limit=st.integers(0, 4),
        cursor=st.sampled_from(["none", "before", "before_id", "before_id_only"]),
        anchor=runs,
        shift=st.sampled_from([0, 0, 1, -1]),
    )
    def list_runs(self, status, workflow, limit, cursor, anchor, shift):
        reference = self.state[anchor]
        before = None if cursor in ("none", "before_id_only") else reference.created_at + shift
        before_id = anchor if cursor in ("before_id", "before_id_only") else None
        results = self._each(
            lambda index, adapter: adapter.list_runs(
                status=status, workflow=workflow, limit=limit, before=before, before_id=before_id
            )
        )
        view = self._same("list_runs", results)
        if limit < 1:
            assert self._raised(view, ConfigError), view
            return
        listed = [run.id for run in results[0][1]]
        tally(f"list_runs ({cursor}) lists {min(len(listed), 2)}+ runs")
        assert listed == self._expected_list(status, workflow, before, before_id)[:limit]

    @rule(status=st.none() | run_statuses, workflow=st.none() | workflows, page=st.integers(1, 3))
    def paginate(self, status, workflow, page):
        """Keyset pages (``before`` + ``before_id`` of the last run) cover the list exactly."""
        for index, adapter in enumerate(self.adapters):
            everything = [run.id for run in adapter.list_runs(status=status, workflow=workflow)]
            walked: list[str] = []
            before = before_id = None
            while True:
                found = adapter.list_runs(
                    status=status, workflow=workflow, limit=page, before=before, before_id=before_id
                )
                walked.extend(run.id for run in found)
                if len(found) < page:
                    break
                before, before_id = found[-1].created_at, found[-1].id
                assert len(walked) <= len(everything), f"{self.names[index]}: pages repeat"
            assert walked == everything, f"{self.names[index]}: pages {walked} vs {everything}"
            assert everything == self._expected_list(status, workflow, None, None)

    # -- schedules -------------------------------------------------------------------

    @rule(
        operation=st.sampled_from(["upsert", "upsert", "claim", "delete"]),
        key=st.sampled_from(["s1", "s2", "é"]),
        workflow=workflows,
        names=name_lists,
        cadence=st.sampled_from([0.5, 1, 60, 0.0004, "*/5 * * * *", "0 0 * * *"]),
        due=offsets,
        created=st.sampled_from([0, 7]),
        value=values,
    )
    def schedules(self, operation, key, workflow, names, cadence, due, created, value):
        """upsert_schedule, claim_due_schedule and delete_schedule (compared, not modelled)."""
        at = self.clock.now_ms() + due
        if operation == "claim":
            results = self._each(lambda index, adapter: adapter.claim_due_schedule(names, at))
            self._same("claim_due_schedule", results)
            return
        if operation == "delete":
            results = self._each(lambda index, adapter: adapter.delete_schedule(key))
            self._same("delete_schedule", results)
            return
        every, cron = (None, cadence) if isinstance(cadence, str) else (cadence, None)
        schedule = WorkflowSchedule(key, workflow, value, every, cron, at, created)
        results = self._each(lambda index, adapter: adapter.upsert_schedule(schedule))
        view = self._same("upsert_schedule", results)
        if every is not None and round(every * 1000) <= 0:
            assert self._raised(view, ConfigError), view

    # -- time and refusals -----------------------------------------------------------

    @rule(seconds=st.sampled_from([0.001, 0.5, 1, 60, 3600]))
    def advance_clock(self, seconds):
        self.clock.advance(seconds)

    @rule(
        run=runs,
        operation=st.sampled_from(["create", "save", "deliver", "progress", "schedule"]),
        bad=refused_values,
    )
    def refused_value_writes_nothing(self, run, operation, bad):
        before = [self._snapshot(index) for index in range(len(self.adapters))]
        now = self.clock.now_ms()
        holder = self.holder.get(run)

        def write(index: int, adapter: Any) -> Any:
            if operation == "create":
                return adapter.create_run(
                    WorkflowRun("fresh-id", "alpha", bad, None, "pending", now, now)
                )
            if operation == "save":
                return adapter.save_step_result(StepResult("a", "completed", bad, run_id=run))
            if operation == "deliver":
                return adapter.deliver_event(run, "go", bad)
            if operation == "progress":
                lease = holder.raws[index] if holder is not None else BOGUS_LEASE
                rows = [StepResult("b", "completed", 1), StepResult("c", "completed", bad)]
                return adapter.save_progress(run, lease, rows, RunStatus.COMPLETED)
            schedule = WorkflowSchedule("s1", "alpha", bad, 60, None, now)
            return adapter.upsert_schedule(schedule)

        view = self._same(f"refused {operation}", self._each(write))
        assert self._raised(view, SerializationError), view
        after = [self._snapshot(index) for index in range(len(self.adapters))]
        assert after == before, f"a refused {operation} changed storage"

    # -- whole-state comparison and invariants ---------------------------------------

    def _snapshot(self, index: int) -> dict[str, Any]:
        adapter = self.adapters[index]
        name = self.names[index]
        listed = adapter.list_runs(limit=10_000)
        order = [(run.created_at, run.id) for run in listed]
        assert order == sorted(order, reverse=True), f"{name}: list_runs out of order"
        assert len(set(order)) == len(order), f"{name}: list_runs repeats a run"
        hidden_runs, hidden_events = self.hidden[index]()
        runs = {}
        for run in listed:
            assert type(run.status) is RunStatus, f"{name}: status {run.status!r} of {run.id!r}"
            assert run.lease_id is None, f"{name}: list_runs shows a lease"
            fetched = adapter.get_run(run.id)
            assert fetched == run, f"{name}: get_run and list_runs disagree on {run.id!r}"
            lease, wake_at = hidden_runs[run.id]
            if lease is not None:
                assert run.status is RunStatus.RUNNING, f"{name}: {run.status} run holds a lease"
            if wake_at is not None:
                assert run.status in SUSPENDED, f"{name}: {run.status} run has a wake time"
            rows = adapter.get_step_results(run.id)
            self._check_rows(index, run.id, rows)
            runs[run.id] = (
                self._view(index, run),
                self._view(index, rows),
                self._lease_view(index, lease),
                wake_at,
            )
        assert set(hidden_runs) == set(runs), f"{name}: list_runs misses runs"
        assert adapter.get_run(MISSING) is None
        # Rows saved without a lease for a run that does not exist are state too.
        orphans = adapter.get_step_results(MISSING)
        self._check_rows(index, MISSING, orphans)
        leases = [lease for lease, _ in hidden_runs.values() if lease is not None]
        assert len(set(leases)) == len(leases), f"{name}: two runs share a lease"
        return {
            "runs": runs,
            "orphan rows": self._view(index, orphans),
            "events": {key: count for key, count in hidden_events.items() if count},
            "schedules": self._view(index, adapter.list_schedules()),
        }

    def _check_rows(self, index: int, run_id: str, rows: list[StepResult]) -> None:
        name = self.names[index]
        names = [row.name for row in rows]
        assert len(set(names)) == len(names), f"{name}: two rows for one step of {run_id!r}"
        created = [row.created_at for row in rows]
        assert created == sorted(created), f"{name}: rows of {run_id!r} not in creation order"
        for row in rows:
            assert type(row.status) is StepStatus
            assert row.run_id == run_id
            known = self.row_ids[index].setdefault((run_id, row.name), row.id)
            assert known == row.id, f"{name}: row {row.name!r} of {run_id!r} changed its id"
        previous = self.row_order[index].get(run_id, [])
        kept = [step for step in previous if step in names]
        assert [step for step in names if step in previous] == kept, (
            f"{name}: rows of {run_id!r} changed order: {previous} -> {names}"
        )
        self.row_order[index][run_id] = names

    @invariant()
    def adapters_agree_and_model_holds(self):
        snapshots = [self._snapshot(index) for index in range(len(self.adapters))]
        for name, snapshot in zip(self.names[1:], snapshots[1:], strict=True):
            for part in ("runs", "orphan rows", "events", "schedules"):
                if snapshot[part] != snapshots[0][part]:
                    ours, theirs = snapshots[0][part], snapshot[part]
                    differ = (
                        {
                            key: (ours.get(key), theirs.get(key))
                            for key in set(ours) | set(theirs)
                            if ours.get(key) != theirs.get(key)
                        }
                        if isinstance(ours, dict)
                        else (ours, theirs)
                    )
                    raise AssertionError(f"{part} differ between memory and {name}: {differ}")
        reference = snapshots[0]
        assert set(reference["runs"]) == set(self.created_order)
        for run_id, (_run, _rows, lease, _wake) in reference["runs"].items():
            holder = self.holder.get(run_id)
            assert lease == (None if holder is None else holder.label), (
                f"{run_id!r} is held by {lease}, the model says {holder}"
            )
        events = {key: len(queue) for key, queue in self.events.items() if queue}
        assert reference["events"] == events
        # Keep what the next rule's expectations need.
        memory = self.adapters[0]
        hidden_runs, _ = self.hidden[0]()
        self.state = {}
        self.rows = {}
        for run_id in reference["runs"]:
            run = memory.get_run(run_id)
            self.state[run_id] = RunState(
                run.id,
                run.workflow,
                run.status,
                run.created_at,
                run.updated_at,
                hidden_runs[run_id][1],
            )
            self.rows[run_id] = {step.name: step.id for step in memory.get_step_results(run_id)}
        self.rows[MISSING] = {step.name: step.id for step in memory.get_step_results(MISSING)}


# Passing takes well under a minute; the long timeout only lets Hypothesis finish
# shrinking (it gives up after five minutes) and print the minimal failing steps.
@pytest.mark.timeout(600)
def test_memory_and_sqlite_storage_agree():
    run_state_machine_as_test(
        StorageModel,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.timeout(60)
def test_memory_treats_a_repeated_step_in_a_batch_as_an_update(tmp_path):
    clock = VirtualClock(START, frozen=True)
    batch = [
        StepResult("a", StepStatus.RUNNING),
        StepResult("a", StepStatus.COMPLETED, id="x"),  # an update of "a": "x" is not used
        StepResult("b", StepStatus.RUNNING, id="x"),  # a new row that may take "x"
    ]
    outcomes = []
    for adapter in (SQLiteStorage(tmp_path / "reflow.db", clock=clock), MemoryStorage(clock=clock)):
        try:
            adapter.initialize()
            now = clock.now_ms()
            adapter.create_run(WorkflowRun("r", "w", None, None, RunStatus.PENDING, now, now))
            claimed = adapter.claim_next_run(["w"])
            assert claimed is not None
            if isinstance(adapter, MemoryStorage):
                try:
                    adapter.save_progress("r", claimed.lease_id, batch)
                except StorageError as error:
                    raise AssertionError(f"MemoryStorage refused the batch: {error}") from error
            else:
                assert adapter.save_progress("r", claimed.lease_id, batch)
            outcomes.append(
                [(row.name, row.status, row.id == "x") for row in adapter.get_step_results("r")]
            )
        finally:
            adapter.close()
    assert outcomes[0] == [("a", StepStatus.COMPLETED, False), ("b", StepStatus.RUNNING, True)]
    assert outcomes[1] == outcomes[0]
