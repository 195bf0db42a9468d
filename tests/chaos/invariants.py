"""The invariants checked after a chaos session, from the database and the ledger alone.

For every ``(run, step)`` the committed execution is the one whose random
``token`` storage holds. From that:

* **duplicates of completed steps** (must be 0): executions that started
  after the committed execution's ``done`` entry. Lease fencing makes that
  order exact: another process can only start the step after claiming the
  run, and a claim either sees the committed row (and does not run the step)
  or makes the older lease's commit fail.
* **re-executed in-flight steps**: every other execution of the step. Each
  must come from a process that was SIGKILLed, and one killed process may
  account for at most one of them per step ("at most one extra execution per
  kill that hit it while in flight"). The contract allows one more cause: a
  live process whose lease lapsed (an overloaded machine can delay a renewal
  past the lease); workers log every lease write storage refused, and such a
  re-execution counts only if its process has a refusal for that run.
  Anything else is *unexplained*.
* **lost runs** (must be 0): enqueued runs that did not end ``completed``.
* stored outputs equal the ledger's ``done`` output exactly; stored
  ``attempts`` equal the committed execution's ``ctx.attempt``, and attempt
  numbers only grow across recoveries; each step saw its predecessor's
  *persisted* output as ``prev``; completed runs hold no lease and no
  ``running`` rows; ``PRAGMA integrity_check`` says ``ok``.
* ``on_run_complete`` fires at most once per run (it comes after the final
  write, so a kill in between loses it: those are counted, not failed).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.chaos import flows, ledger


@dataclass(frozen=True)
class Kill:
    """A worker process that died by SIGKILL: ``driver``, ``self`` (mid-write) or ``final``."""

    pid: int
    kind: str


@dataclass
class Findings:
    """What a chaos session did and what the invariants found."""

    runs: int = 0
    completed: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    kills_in_flight: int = 0
    duplicates: int = 0
    reexecuted: int = 0
    after_lost_lease: int = 0
    unexplained: int = 0
    lost: int = 0
    mismatched: int = 0
    notifications_lost: int = 0
    torn: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_kills(self) -> int:
        """Every SIGKILL, whoever sent it."""
        return sum(self.kills.values())

    def violation(self, message: str) -> None:
        """Record a broken invariant (kept short: the first 50 are listed)."""
        if len(self.violations) < 50:
            self.violations.append(message)
        elif len(self.violations) == 50:
            self.violations.append("... more violations not listed")


def _connect(db: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def run_counts(db: str) -> Counter[str]:
    """How many runs are in each status right now."""
    connection = _connect(db)
    try:
        rows = connection.execute("SELECT status, count(*) FROM workflow_runs GROUP BY status")
        return Counter(dict(rows))
    finally:
        connection.close()


def _load(
    db: str,
) -> tuple[dict[str, tuple[Any, ...]], dict[tuple[str, str], tuple[Any, ...]], str]:
    connection = _connect(db)
    try:
        runs = {
            row[0]: row[1:]
            for row in connection.execute("SELECT id, status, lease_id FROM workflow_runs")
        }
        steps = {
            (row[0], row[1]): (row[2], None if row[3] is None else json.loads(row[3]), row[4])
            for row in connection.execute(
                "SELECT run_id, name, status, output, attempts FROM workflow_steps"
            )
        }
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
    return runs, steps, integrity


def check(
    db: str, ledger_path: str, errors_path: str, enqueued: list[str], kills: list[Kill]
) -> Findings:
    """Check every invariant of the module docstring; return the counts and violations."""
    findings = Findings(runs=len(enqueued))
    findings.kills.update(kill.kind for kill in kills)
    killed = {kill.pid for kill in kills}
    runs, steps, integrity = _load(db)
    if integrity != "ok":
        findings.violation(f"integrity_check: {integrity}")
    entries, findings.torn = ledger.read(ledger_path)
    if findings.torn:
        findings.violation(f"{findings.torn} torn ledger lines")
    errors, _ = ledger.read(errors_path)
    findings.errors.update(str(error.extra.get("type")) for error in errors)
    executions: dict[tuple[str, str], list[ledger.Entry]] = defaultdict(list)
    refused: set[tuple[str, int]] = set()
    notified = Counter(entry.run for entry in entries if entry.phase == "complete")
    for entry in entries:
        if entry.phase in ("start", "done"):
            executions[(entry.run, entry.step)].append(entry)
        elif entry.phase == "write" and not entry.extra.get("ok"):
            refused.add((entry.run, entry.pid))

    unknown = set(runs) - set(enqueued)
    if unknown:
        findings.violation(f"{len(unknown)} runs in storage that nobody enqueued")
    hit: set[int] = set()
    for run_id in enqueued:
        found = runs.get(run_id)
        if found is None or found[0] != "completed":
            findings.lost += 1
            findings.violation(f"run {run_id} is {found[0] if found else 'missing'}")
            continue
        findings.completed += 1
        if notified[run_id] == 0:
            findings.notifications_lost += 1
        elif notified[run_id] > 1:
            findings.violation(f"run {run_id} was notified complete {notified[run_id]} times")
        if found[1] is not None:
            findings.violation(f"completed run {run_id} still holds lease {found[1]}")
        previous_token = None
        for name in flows.STEPS:
            row = steps.get((run_id, name))
            if row is None or row[0] != "completed":
                findings.violation(f"{run_id}/{name}: row is {row[0] if row else 'missing'}")
                continue
            seen = executions[(run_id, name)]
            lapsed = {pid for run, pid in refused if run == run_id}
            _check_step(findings, run_id, name, row, seen, killed - lapsed, lapsed, hit)
            if flows.token_of(row[1]) is None or row[1].get("prev_token") != previous_token:
                findings.violation(f"{run_id}/{name}: prev was not the persisted output")
            previous_token = flows.token_of(row[1])
    findings.kills_in_flight = len(hit)
    return findings


def _check_step(
    findings: Findings,
    run_id: str,
    name: str,
    row: tuple[Any, ...],
    seen: list[ledger.Entry],
    killed: set[int],
    lapsed: set[int],
    hit: set[int],
) -> None:
    _, output, attempts = row
    key = f"{run_id}/{name}"
    token = flows.token_of(output)
    committed = [e for e in seen if e.phase == "done" and flows.token_of(e.output) == token]
    if len(committed) != 1:
        findings.mismatched += 1
        findings.violation(f"{key}: stored output was produced by {len(committed)} executions")
        return
    done = committed[0]
    if done.output != output:
        findings.mismatched += 1
        findings.violation(f"{key}: stored output differs from the ledger's")
    if attempts != done.attempt:
        findings.violation(
            f"{key}: attempts {attempts} but the committed attempt was {done.attempt}"
        )
    starts = [e for e in seen if e.phase == "start"]
    own = [e for e in starts if (e.pid, e.attempt) == (done.pid, done.attempt) and e.seq < done.seq]
    if len(own) != 1:
        findings.violation(f"{key}: the committed execution has {len(own)} start entries")
    later = [e for e in starts if e.seq > done.seq]
    findings.duplicates += len(later)
    for entry in later:
        findings.violation(f"{key}: ran again (pid {entry.pid}) after its output was committed")
    attempts_seen = [e.attempt for e in starts]
    if attempts_seen != sorted(set(attempts_seen)):
        findings.violation(f"{key}: attempt numbers did not grow: {attempts_seen}")
    others = [e for e in starts if e not in own and e.seq < done.seq]
    findings.reexecuted += len(others)
    for pid, count in Counter(e.pid for e in others).items():
        if pid in lapsed and count == 1:
            findings.after_lost_lease += 1
        elif pid not in killed:
            findings.unexplained += count
            findings.violation(f"{key}: re-executed after process {pid}, which was never killed")
        elif count > 1:
            findings.violation(f"{key}: killed process {pid} left {count} extra executions")
        else:
            hit.add(pid)
