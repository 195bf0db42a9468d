"""``reflow runs list | show | cancel | resume``.

``list`` and ``show`` read the database read-only. ``cancel`` and ``resume``
write through the storage adapter, as the engine would: a cancelled run that
an engine is executing elsewhere halts at that engine's next heartbeat, and a
resumed run waits for a worker that registers its workflow.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..records import RunStatus, StepResult, StepStatus, WorkflowRun
from ..storage.base import StorageAdapter, SupportsCancel
from .app import load_engine, validating_engine
from .database import database_location, opened
from .documents import run_document, shown_status, step_document
from .errors import CliError, ExitCode
from .output import Output
from .render import compact, duration, local_time, shorten, table, terminal_width

__all__ = ["Cursor", "find_run", "register", "show_run"]

_RESUMABLE = (RunStatus.FAILED, RunStatus.CANCELLED)
_FINISHED_STEPS = (StepStatus.COMPLETED, StepStatus.COMPLETED_EARLY)


class Cursor:
    """A ``runs list`` page position: ``<created_at>:<id>`` of the last run shown."""

    def __init__(self, text: str) -> None:
        created_at, _, run_id = text.partition(":")
        if not created_at.isdigit() or not run_id:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a cursor; use the one printed after 'next:'"
            )
        self.created_at = int(created_at)
        self.run_id = run_id

    @staticmethod
    def after(run: WorkflowRun) -> str:
        """The cursor of the page that starts after ``run``."""
        return f"{run.created_at}:{run.id}"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def find_run(storage: StorageAdapter, run_id: str, location: str) -> WorkflowRun:
    """The run, or "not found" (exit 3) naming the database."""
    run = storage.get_run(run_id)
    if run is None:
        raise CliError(f"no run {run_id} in {location}", ExitCode.NOT_FOUND)
    return run


# --- list ------------------------------------------------------------------------------


def _list(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args)
    cursor: Cursor | None = args.before
    with opened(location) as storage:
        page = storage.list_runs(
            status=None if args.status is None else RunStatus(args.status),
            workflow=args.workflow,
            limit=args.limit + 1,  # one more tells whether there is a next page
            before=None if cursor is None else cursor.created_at,
            before_id=None if cursor is None else cursor.run_id,
        )
    runs = page[: args.limit]
    following = Cursor.after(runs[-1]) if len(page) > args.limit else None
    if out.json:
        out.document({"runs": [run_document(run) for run in runs], "next": following})
        return ExitCode.OK
    if not runs:
        out.line("no runs" + (" on this page" if cursor is not None else f" in {location}"))
        return ExitCode.OK
    headers = ["ID", "WORKFLOW", "STATUS", "CREATED", "UPDATED"]
    rows = [
        [
            run.id,
            run.workflow,
            run.status.value,
            local_time(run.created_at),
            local_time(run.updated_at),
        ]
        for run in runs
    ]
    out.lines(table(headers, rows))
    if following is not None:
        out.line(f"next: {following}  (reflow runs list --before {following} ...)")
    return ExitCode.OK


# --- show ------------------------------------------------------------------------------


def _detail(step: StepResult) -> str:
    if step.error is not None:
        return step.error
    if step.output is None and step.status not in _FINISHED_STEPS:
        return ""  # nothing recorded yet: an attempt in flight, a sleep, a wait
    return compact(step.output)


def _step_row(step: StepResult, run: WorkflowRun) -> list[str]:
    detail = _detail(step)
    attempts = str(step.attempts)
    return [step.name, shown_status(step, run), attempts, local_time(step.updated_at), detail]


def _hint(run: WorkflowRun) -> str | None:
    if run.status is RunStatus.RUNNING:
        idle = duration(max(0, round(time.time() - run.updated_at / 1000)))
        return (
            f"last heartbeat {idle} ago; if its worker died, any worker for "
            f'"{run.workflow}" reclaims it once the lease expires'
        )
    if run.status in _RESUMABLE:
        return f"resume it with: reflow runs resume {run.id}"
    return None


def show_run(out: Output, run: WorkflowRun, steps: list[StepResult]) -> None:
    """Print a run and its steps table (also the end of ``reflow demo``)."""
    width = terminal_width()
    fields = [
        ("run", run.id),
        ("workflow", run.workflow),
        ("status", run.status.value),
        ("input", shorten(compact(run.input), max(width - 10, 20))),
        ("key", run.idempotency_key or "-"),
        ("created", local_time(run.created_at)),
        ("updated", local_time(run.updated_at)),
    ]
    out.lines(f"{name:<9} {value}" for name, value in fields)
    hint = _hint(run)
    if hint is not None:
        out.line(f"          ({hint})")
    out.line()
    if not steps:
        out.line("no steps recorded yet")
        return
    headers = ["NAME", "STATUS", "ATTEMPTS", "UPDATED", "ERROR/OUTPUT"]
    out.lines(table(headers, [_step_row(step, run) for step in steps], width=width))


def _show(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args)
    with opened(location) as storage:
        run = find_run(storage, args.run_id, location)
        steps = storage.get_step_results(run.id)
    if out.json:
        out.document(
            {"run": run_document(run), "steps": [step_document(step, run) for step in steps]}
        )
    else:
        show_run(out, run, steps)
    return ExitCode.OK


# --- cancel ----------------------------------------------------------------------------


def _cancel_run(storage: StorageAdapter, run: WorkflowRun) -> bool:
    if isinstance(storage, SupportsCancel):
        return storage.cancel_run(run.id)
    return storage.update_run_status(run.id, RunStatus.CANCELLED)


def _refuse_cancel(run: WorkflowRun) -> CliError:
    return CliError(
        f"run {run.id} is already {run.status}; only pending, running, sleeping or waiting "
        "runs can be cancelled",
        ExitCode.REFUSED,
    )


def _cancel(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args)
    with opened(location, write=True) as storage:
        run = find_run(storage, args.run_id, location)
        if run.status.terminal:
            raise _refuse_cancel(run)
        if not _cancel_run(storage, run):  # it finished meanwhile
            raise _refuse_cancel(find_run(storage, run.id, location))
        after = find_run(storage, run.id, location)
    if out.json:
        out.document({"run": run_document(after), "previous_status": run.status.value})
        return ExitCode.OK
    out.line(f"cancelled run {run.id} (was {run.status})")
    if run.status is RunStatus.RUNNING:
        out.line("an engine executing it stops it at its next heartbeat")
    return ExitCode.OK


# --- resume ----------------------------------------------------------------------------


def _refuse_resume(run: WorkflowRun) -> CliError:
    message = f"run {run.id} is {run.status}; only failed or cancelled runs can be resumed"
    if run.status is RunStatus.RUNNING:
        message += (
            " (if its worker died, any worker that registers "
            f'"{run.workflow}" reclaims it once its lease expires: reflow worker module:engine)'
        )
    return CliError(message, ExitCode.REFUSED)


def _resume(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args)
    app = load_engine(args.app) if args.app else None
    with opened(location, write=True) as storage:
        run = find_run(storage, args.run_id, location)
        if run.status not in _RESUMABLE:
            raise _refuse_resume(run)
        if app is not None:
            resumed = validating_engine(app, storage).resume(run.id)
        else:
            resumed = storage.requeue_run(run.id)
        after = find_run(storage, run.id, location)
        if not resumed:
            raise _refuse_resume(after)
    if out.json:
        out.document({"run": run_document(after), "previous_status": run.status.value})
        return ExitCode.OK
    out.line(f"requeued run {run.id} ({run.status} -> {after.status})")
    out.line(
        f'a worker that registers workflow "{run.workflow}" will run it from the step that '
        "did not complete, e.g.: reflow worker module:engine"
    )
    return ExitCode.OK


# --- parser ----------------------------------------------------------------------------


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``runs`` and its subcommands to the top-level ``commands``."""
    runs = commands.add_parser("runs", help="list, inspect, cancel and resume runs")
    actions = runs.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list", parents=[common], help="runs, newest first", description="Runs, newest first."
    )
    listing.add_argument("--status", choices=[status.value for status in RunStatus])
    listing.add_argument("--workflow", metavar="NAME", help="only runs of this workflow")
    listing.add_argument(
        "--limit", type=_positive, default=20, metavar="N", help="runs per page (default 20)"
    )
    listing.add_argument(
        "--before",
        type=Cursor,
        metavar="CURSOR",
        help="continue after the page that printed this 'next:' cursor",
    )
    listing.set_defaults(handler=_list)

    show = actions.add_parser(
        "show", parents=[common], help="a run and its steps", description="A run and its steps."
    )
    show.add_argument("run_id", metavar="ID")
    show.set_defaults(handler=_show)

    cancel = actions.add_parser(
        "cancel",
        parents=[common],
        help="cancel a run that has not finished",
        description="Cancel a pending, running, sleeping or waiting run. An engine "
        "executing it elsewhere halts it at its next heartbeat.",
    )
    cancel.add_argument("run_id", metavar="ID")
    cancel.set_defaults(handler=_cancel)

    resume = actions.add_parser(
        "resume",
        parents=[common],
        help="requeue a failed or cancelled run",
        description="Requeue a failed or cancelled run: completed steps are kept and the "
        "failed step runs again when a worker that registers the workflow picks it up.",
    )
    resume.add_argument("run_id", metavar="ID")
    resume.add_argument(
        "--app",
        metavar="MODULE:ENGINE",
        help="check the run's workflow is one this engine registers",
    )
    resume.set_defaults(handler=_resume)
