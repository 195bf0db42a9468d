"""The chaos driver: worker processes run ``chaos5`` while the driver SIGKILLs them.

One session, in order:

1. Start ``workers`` engine processes on one SQLite file (``durability`` as
   configured) and a side-effect ledger.
2. Enqueue runs in step with the kills (so the kills spread over the whole
   session instead of landing on an idle system), keeping a backlog of about
   ``2 * workers * concurrency`` runs so workers are busy when a blow comes.
3. Repeatedly wait a random moment (``kill_every``: the chaos, not a wait for
   an outcome), SIGKILL a random ready worker and start a replacement at
   once. Workers started with ``self_kill`` also SIGKILL themselves from inside
   storage writes (see :mod:`tests.chaos.storage`); the driver reaps and
   replaces those too, and a worker that exits any other way is a violation.
   It goes on until the driver sent ``kills`` and workers sent themselves
   ``self_kills`` (or no work is left for a self-kill to land in).
4. Then the final blow: enqueue the last backlog, and once steps are in
   flight SIGKILL every worker at once. Start fresh workers (no self-kills) and
   wait until every run is completed: runs left ``running`` by the dead must
   be taken over once their lease is stale.
5. Stop the workers cleanly (they must exit 0) and check the invariants
   (:mod:`tests.chaos.invariants`).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from reflow_actors import Engine, create_engine
from reflow_actors.storage import SQLiteStorage
from tests.chaos import flows, ledger
from tests.chaos.harness import Worker, wait_until
from tests.chaos.invariants import Findings, Kill, check, run_counts

WORKER = Path(__file__).with_name("worker.py")


@dataclass(frozen=True)
class ChaosConfig:
    """One chaos session's shape."""

    name: str
    runs: int
    kills: int  # SIGKILLs sent by the driver (self-kills and the final blow come on top)
    self_kills: int = 0  # SIGKILLs workers send themselves mid-write, at least (needs self_kill)
    workers: int = 3
    concurrency: int = 4
    lease: float = 2.0
    heartbeat: float = 0.25
    kill_every: tuple[float, float] = (0.1, 0.6)  # seconds between kills, uniform
    work: float = 0.15  # a step waits uniform(0, work) seconds to simulate work
    self_kill: float = 0.0  # probability a claim or save SIGKILLs its own process mid-write
    durability: str = "full"
    chaos_timeout: float = 600.0
    drain_timeout: float = 60.0
    seed: int | None = None


SHORT_EXTERNAL = ChaosConfig("short: driver SIGKILLs", runs=60, kills=12, workers=2)
SHORT_SELF_KILL = ChaosConfig(
    "short: SIGKILL inside writes", runs=60, kills=2, self_kills=6, workers=2, self_kill=0.05
)
LONG_EXTERNAL = ChaosConfig("long: driver SIGKILLs", runs=1000, kills=200)
LONG_SELF_KILL = ChaosConfig(
    "long: SIGKILL inside writes", runs=400, kills=20, self_kills=40, self_kill=0.03
)


class Session:
    """One chaos session in ``directory`` (see the module docstring)."""

    def __init__(self, config: ChaosConfig, directory: Path) -> None:
        self.config = config
        self.db = str(directory / "reflow.db")
        self.ledger = str(directory / "ledger.jsonl")
        self.errors = str(directory / "errors.jsonl")
        self.log = directory / "workers.log"
        ledger.create(self.ledger)
        ledger.create(self.errors)
        self.rng = random.Random(config.seed)
        self.workers: list[Worker] = []
        self.retired: list[Worker] = []
        self.kills: list[Kill] = []
        self.enqueued: list[str] = []
        self.findings = Findings()
        self.self_kill = config.self_kill  # the drain turns self-kills off

    # --- workers ------------------------------------------------------------------

    def spawn(self) -> Worker:
        config = self.config
        rate = self.self_kill
        args = [
            "--db", self.db, "--ledger", self.ledger, "--errors", self.errors,
            "--concurrency", str(config.concurrency), "--lease", str(config.lease),
            "--heartbeat", str(config.heartbeat), "--durability", config.durability,
            "--work", str(config.work), "--self-kill", str(rate),
        ]  # fmt: skip
        worker = Worker(WORKER, args, self.log)
        self.workers.append(worker)
        return worker

    def _retire(self, worker: Worker) -> None:
        self.workers.remove(worker)
        self.retired.append(worker)
        worker.close()

    def kill(self, worker: Worker, kind: str) -> None:
        status = worker.kill()
        if status != -9:
            self.findings.violation(f"worker {worker.pid} exited with {status} before the kill")
        self.kills.append(Kill(worker.pid, kind))
        self._retire(worker)

    def reap(self, *, replace: bool = True) -> None:
        """Replace workers that died on their own (a self-kill is fine, a crash is not)."""
        for worker in list(self.workers):
            status = worker.process.poll()
            if status is None:
                continue
            if status == -9:
                self.kills.append(Kill(worker.pid, "self"))
            else:
                self.findings.violation(f"worker {worker.pid} exited with {status}")
            self._retire(worker)
            if replace:
                self.spawn()

    # --- the session --------------------------------------------------------------

    def run(self) -> Findings:
        started = time.monotonic()
        storage = SQLiteStorage(self.db, durability=self.config.durability)
        # Never started: it only enqueues (and so creates the schema).
        engine = create_engine(storage=storage, workflows=flows.build(self.ledger))
        try:
            for _ in range(self.config.workers):
                self.spawn()
            self._chaos(engine)
            self._final_blow(engine)
            self._drain()
            for worker in list(self.workers):
                status = worker.stop()
                if status != 0:
                    self.findings.violation(f"worker {worker.pid} stopped with exit code {status}")
                self._retire(worker)
        finally:
            for worker in list(self.workers):
                self._retire(worker)
            engine.stop()
            storage.close()
        findings = check(self.db, self.ledger, self.errors, self.enqueued, self.kills)
        findings.violations[:0] = self.findings.violations
        findings.seconds = time.monotonic() - started
        return findings

    def _enqueue_up_to(self, engine: Engine, quota: int) -> None:
        while len(self.enqueued) < quota:
            run = engine.enqueue(flows.WORKFLOW, {"n": len(self.enqueued)})
            self.enqueued.append(run.id)

    def _count(self, kind: str) -> int:
        return sum(1 for kill in self.kills if kill.kind == kind)

    def _chaos(self, engine: Engine) -> None:
        config = self.config
        backlog = 2 * config.workers * config.concurrency
        before_final = config.runs - backlog  # the last backlog is kept for the final blow
        target = config.kills + config.self_kills
        deadline = time.monotonic() + config.chaos_timeout
        while (
            self._count("driver") < config.kills
            or self._count("self") < config.self_kills
            or len(self.enqueued) < before_final
        ):
            done = min(self._count("driver"), config.kills) + self._count("self")
            pace = math.ceil(config.runs * (done + 1) / max(target, 1))
            self._enqueue_up_to(engine, min(before_final, pace + backlog))
            time.sleep(self.rng.uniform(*config.kill_every))  # a random moment: the chaos
            self.reap()
            ready = [worker for worker in self.workers if worker.poll_ready()]
            if ready and self._count("driver") < config.kills:
                self.kill(self.rng.choice(ready), "driver")
                self.spawn()
            if self._count("driver") >= config.kills and self._idle(before_final):
                return  # no work left for self-kills to land in; the test checks the targets
            if time.monotonic() > deadline:
                self.findings.violation(f"chaos phase did not finish in {config.chaos_timeout}s")
                return

    def _idle(self, before_final: int) -> bool:
        """Every run but the final backlog is enqueued and completed."""
        completed = run_counts(self.db).get("completed", 0)
        return len(self.enqueued) >= before_final and completed >= len(self.enqueued)

    def _final_blow(self, engine: Engine) -> None:
        """Enqueue the last backlog and kill every worker once runs are in flight."""
        self.reap()
        self._enqueue_up_to(engine, self.config.runs)
        wait_until(
            self._reaped_and_in_flight,
            timeout=30,
            interval=0.01,
            what="steps in flight in live workers before the final blow",
        )
        self.reap(replace=False)
        for worker in list(self.workers):
            self.kill(worker, "final")

    def _reaped_and_in_flight(self) -> bool:
        """Replace dead workers, then tell whether a live one is inside a step."""
        self.reap()
        return self._steps_in_flight()

    def _steps_in_flight(self) -> bool:
        """Whether a live worker is inside a step (its ``start`` has no ``done`` yet)."""
        live = {worker.pid for worker in self.workers if worker.alive()}
        entries, _ = ledger.read(self.ledger)
        open_steps: set[tuple[str, str, int]] = set()
        for entry in entries:
            if entry.pid not in live:
                continue
            key = (entry.run, entry.step, entry.attempt)
            if entry.phase == "start":
                open_steps.add(key)
            elif entry.phase == "done":
                open_steps.discard(key)
        return bool(open_steps)

    def _drain(self) -> None:
        """Fresh workers (no self-kills) must finish every run; nothing may stay running."""
        self.self_kill = 0.0
        for _ in range(self.config.workers):
            self.spawn()
        deadline = time.monotonic() + self.config.drain_timeout
        while run_counts(self.db).get("completed", 0) < len(self.enqueued):
            self.reap()
            if time.monotonic() > deadline:
                counts = dict(run_counts(self.db))
                waited = self.config.drain_timeout
                self.findings.violation(
                    f"runs not completed {waited}s after the final blow: {counts}"
                )
                return
            time.sleep(0.05)  # polling a condition with a deadline


def run_session(config: ChaosConfig, directory: Path) -> Findings:
    """Run one chaos session in ``directory`` and return its findings."""
    directory.mkdir(parents=True, exist_ok=True)
    return Session(config, directory).run()


def table(rows: list[tuple[ChaosConfig, Findings]]) -> str:
    """The published figures, as a Markdown table."""
    header = (
        "| session | runs | kills (driver / in-write / final) | kills that hit a step in flight "
        "| duplicates of completed steps "
        "| re-executed in-flight steps (after a kill / after a lost lease) | lost runs "
        "| output mismatches | run_complete hooks lost to kills | errors reported | seconds |"
    )
    lines = [header, "|" + "---|" * 11]
    for config, found in rows:
        kills = found.kills
        lines.append(
            f"| {config.name} | {found.runs} | {found.total_kills} "
            f"({kills['driver']} / {kills['self']} / {kills['final']}) | {found.kills_in_flight} "
            f"| {found.duplicates} | {found.reexecuted} "
            f"({found.reexecuted - found.after_lost_lease} / {found.after_lost_lease}) "
            f"| {found.lost} | {found.mismatched} | {found.notifications_lost} "
            f"| {sum(found.errors.values())} | {found.seconds:.0f} |"
        )
    return "\n".join(lines)
