"""``reflow demo``: a real multi-step workflow on a local SQLite file, shown as it runs.

::

    reflow demo                          # run an order to completion on reflow-demo.db
    reflow demo --crash-after charge     # die abruptly (os._exit) right after "charge" is saved
    reflow demo --resume                 # reclaim the crashed run and finish it

The workflow lives in :mod:`.demo_workflow`, so ``reflow worker
reflow_actors._cli.demo_workflow:engine`` recovers a crashed demo run too.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import threading
import time
from typing import Any

from ..engine import Engine
from ..events import Hooks, RunComplete, RunFailed, StepComplete
from ..records import RunStatus
from ..stream import EventStream
from . import demo_workflow as flow
from .database import database_location, is_url, opened
from .documents import run_document, step_document
from .errors import CliError, ExitCode
from .output import Output
from .progress import describe, event_record
from .runs import show_run

__all__ = ["register"]

_POLL = 0.2  # the demo engine polls often, so a crashed run is picked up soon after its lease
_IDLE = 0.05  # how long the printer waits for an event before checking for a pending crash
_CHECK_ELSEWHERE = 1.0  # seconds between checks for runs another worker finished
_ELSEWHERE_GRACE = 3.0  # how long a run must look finished, with no event here, to stop waiting
_HOOK_GRACE = 10.0  # if the printer never exits the process, the crash hook does
_UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SLEEPING, RunStatus.WAITING)


class _Crash:
    """Exit the process right after step ``step`` of the demo run is saved.

    The ``on_step_complete`` hook runs after the step's row is committed and
    before the run goes on; it parks the run and lets the printer (which has
    shown every earlier event by then) print the last line and ``os._exit(1)``.
    """

    def __init__(self, step: str) -> None:
        self.step = step
        self.run_id: str | None = None
        self.event: StepComplete | None = None

    def hook(self, event: StepComplete) -> None:
        if event.step_name != self.step or event.run_id != self.run_id:
            return
        self.event = event
        threading.Event().wait(_HOOK_GRACE)
        os._exit(1)

    def exit_now(self, out: Output, event: StepComplete, started: float) -> None:
        if not out.json:
            _progress(out, event, started)
            out.line(
                f'\nCRASH: the process exits now (os._exit(1)), right after "{self.step}" '
                "was saved. The run stays running; its lease expires in "
                f"{flow.LEASE_SECONDS:g}s and then any worker can reclaim it."
            )
        for stream in (out.stdout, out.stderr):
            stream.flush()
        os._exit(1)


def _progress(out: Output, event: Any, started: float) -> None:
    out.line(f"  {time.monotonic() - started:5.2f}s  {event.run_id[:8]}  {describe(event)}")


class _Elsewhere:
    """Notices runs that ended without this engine (another worker finished them).

    A run counts as finished elsewhere once storage has shown it finished for
    ``_ELSEWHERE_GRACE`` seconds with no event for it here: a run this engine
    finishes is committed a moment before its ``run_complete`` event arrives.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._last_check = time.monotonic()
        self._finished_since: dict[str, float] = {}

    def heard_from(self, run_id: str) -> None:
        self._finished_since.pop(run_id, None)

    def finished(self, run_ids: set[str]) -> set[str]:
        now = time.monotonic()
        if now - self._last_check < _CHECK_ELSEWHERE:
            return set()
        self._last_check = now
        for run_id in run_ids:
            info = self._engine.get_run_status(run_id)
            if info is None or info.run.status.terminal:
                self._finished_since.setdefault(run_id, now)
        return {
            run_id
            for run_id, since in self._finished_since.items()
            if run_id in run_ids and now - since >= _ELSEWHERE_GRACE
        }


def _follow(
    out: Output, engine: Engine, stream: EventStream, run_ids: set[str], crash: _Crash | None
) -> list[dict[str, Any]]:
    """Print the runs' events until each has completed or failed; return them as records."""
    started = time.monotonic()
    pending, records, elsewhere = set(run_ids), [], _Elsewhere(engine)
    while pending:
        try:
            event = stream.get(timeout=_IDLE)
        except TimeoutError:
            if crash is not None and crash.event is not None:
                crash.exit_now(out, crash.event, started)
            pending -= elsewhere.finished(pending)
            continue
        if event is None:
            break
        if event.run_id not in pending:
            continue
        elsewhere.heard_from(event.run_id)
        records.append(event_record(event))
        if not out.json:
            _progress(out, event, started)
        if isinstance(event, (RunComplete, RunFailed)):
            pending.discard(event.run_id)
    return records


def _summary(out: Output, engine: Engine, run_ids: list[str], events: list[Any]) -> int:
    infos = [engine.get_run_status(run_id) for run_id in run_ids]
    found = [info for info in infos if info is not None]
    if out.json:
        out.document(
            {
                "runs": [
                    {
                        "run": run_document(info.run),
                        "steps": [step_document(step, info.run) for step in info.steps],
                    }
                    for info in found
                ],
                "events": events,
            }
        )
    else:
        for info in found:
            out.line()
            show_run(out, info.run, info.steps)
    ok = all(info.run.status is RunStatus.COMPLETED for info in found)
    return ExitCode.OK if ok else ExitCode.REFUSED


def _next_steps(out: Output, location: str, run_id: str) -> None:
    db = shlex.quote(location)
    out.lines(
        [
            "",
            "Try next:",
            f"  reflow runs list --db {db}",
            f"  reflow runs show {run_id} --db {db}",
            f"  reflow demo --crash-after charge --db {db}   # crash mid-run; then:",
            f"  reflow demo --resume --db {db}",
        ]
    )


def _run(location: str, crash_after: str | None, out: Output) -> int:
    if os.path.exists(location):  # noqa: PTH110 - the user's path as given
        with opened(location):  # refuse a file that is not a reflow database, before writing
            pass
    crash = _Crash(crash_after) if crash_after else None
    hooks = Hooks(on_step_complete=crash.hook) if crash is not None else None
    engine = flow.build_engine(location, hooks)
    try:
        with engine.stream() as stream:
            run = engine.enqueue(flow.order, flow.sample_order(1000 + secrets.randbelow(9000)))
            if crash is not None:
                crash.run_id = run.id  # before start(): no step of it has run yet
            if not out.json:
                out.line(
                    f"reflow demo: workflow {flow.order.name} "
                    "(validate -> charge -> email + crm in parallel -> ship)"
                )
                out.line(f"database {location}, run {run.id}\n")
            engine.start(poll_interval=_POLL)
            events = _follow(out, engine, stream, {run.id}, crash)
            engine.stop()
        code = _summary(out, engine, [run.id], events)
    finally:
        engine.stop()
        engine.storage.close()
    if not out.json:
        _next_steps(out, location, run.id)
    return code


def _unfinished(location: str) -> list[str]:
    with opened(location) as storage:
        runs = storage.list_runs(workflow=flow.order.name, limit=1000)
    return [run.id for run in runs if run.status in _UNFINISHED]


def _resume(location: str, out: Output) -> int:
    run_ids = _unfinished(location)
    if not run_ids:
        raise CliError(
            f"no unfinished demo run in {location}; make one with: "
            f"reflow demo --crash-after charge --db {shlex.quote(location)}",
            ExitCode.REFUSED,
        )
    if not out.json:
        out.line(
            f"recovering {len(run_ids)} demo run(s) in {location}: a crashed run is reclaimed "
            f"once its lease ({flow.LEASE_SECONDS:g}s) expires; saved steps do not run again\n"
        )
    engine = flow.build_engine(location)
    try:
        with engine.stream() as stream:
            engine.start(poll_interval=_POLL)
            events = _follow(out, engine, stream, set(run_ids), None)
            engine.stop()
        code = _summary(out, engine, run_ids, events)
    finally:
        engine.stop()
        engine.storage.close()
    if not out.json:
        _next_steps(out, location, run_ids[0])
    return code


def _demo(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args, default=flow.DEMO_DB)
    if is_url(location):
        raise CliError("the demo runs on a SQLite file; give --db a path", ExitCode.INVALID)
    if args.resume:
        return _resume(location, out)
    return _run(location, args.crash_after, out)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``demo`` to the top-level ``commands``."""
    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="run a real multi-step workflow on reflow-demo.db and watch it",
        description="Run an order workflow (validate -> charge -> email + crm in parallel -> "
        "ship) on a local SQLite file (default reflow-demo.db), printing each step as it "
        "happens. Crash it with --crash-after, recover it with --resume.",
    )
    mode = demo.add_mutually_exclusive_group()
    mode.add_argument(
        "--crash-after",
        choices=flow.STEPS,
        metavar="STEP",
        help=f"exit abruptly right after STEP is saved ({', '.join(flow.STEPS)})",
    )
    mode.add_argument(
        "--resume",
        action="store_true",
        help="finish the unfinished (crashed) demo runs in the database",
    )
    demo.set_defaults(handler=_demo)
