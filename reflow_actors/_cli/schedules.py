"""``reflow schedules list | remove KEY``: the durable schedules engines fire.

Removing a schedule stops it for every engine; an application that calls
``engine.schedule(..., key=KEY)`` at startup registers it again.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..records import WorkflowSchedule
from .database import database_location, opened
from .documents import schedule_document
from .errors import CliError, ExitCode
from .output import Output
from .render import duration, local_time, table

__all__ = ["register"]


def _recurrence(schedule: WorkflowSchedule) -> str:
    if schedule.cron is not None:
        return f"cron {schedule.cron}"
    return f"every {duration(schedule.every or 0)}"


def _list(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args)
    with opened(location) as storage:
        schedules = storage.list_schedules()
    if out.json:
        out.document({"schedules": [schedule_document(schedule) for schedule in schedules]})
        return ExitCode.OK
    if not schedules:
        out.line(f"no schedules in {location}")
        return ExitCode.OK
    rows = [[s.key, s.workflow, _recurrence(s), local_time(s.next_run_at)] for s in schedules]
    out.lines(table(["KEY", "WORKFLOW", "EVERY/CRON", "NEXT RUN"], rows))
    return ExitCode.OK


def _remove(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args)
    with opened(location, write=True) as storage:
        removed = storage.delete_schedule(args.key)
    if not removed:
        raise CliError(f"no schedule {args.key!r} in {location}", ExitCode.NOT_FOUND)
    if out.json:
        out.document({"removed": args.key})
    else:
        out.line(f"removed schedule {args.key!r}")
    return ExitCode.OK


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``schedules`` and its subcommands to the top-level ``commands``."""
    schedules = commands.add_parser("schedules", help="list and remove schedules")
    actions = schedules.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[common], help="every schedule", description="Every schedule, by key."
    )
    listing.set_defaults(handler=_list)
    remove = actions.add_parser(
        "remove",
        parents=[common],
        help="remove a schedule",
        description="Remove a schedule for every engine (an app that registers it at "
        "startup adds it again).",
    )
    remove.add_argument("key", metavar="KEY")
    remove.set_defaults(handler=_remove)
