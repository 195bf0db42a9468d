"""``reflow events send ID NAME JSON``: deliver an event to a run waiting for it (or buffer it).

Without ``--app`` the payload is stored as given, once the run is known to
exist and not be finished; nothing checks it against the workflow's
``wait_for_event`` schema, and the command says so. With ``--app
module:engine`` it goes through ``engine.send_event``, which checks that the
workflow has such a wait and validates the payload (exit 5 if not).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from .app import load_engine, validating_engine
from .database import database_location, opened
from .documents import run_document
from .errors import CliError, ExitCode
from .output import Output
from .runs import find_run

__all__ = ["register"]


def _payload(text: str) -> Any:
    source = sys.stdin.read() if text == "-" else text
    try:
        return orjson.loads(source)
    except orjson.JSONDecodeError as error:
        where = "stdin" if text == "-" else "the JSON argument"
        raise CliError(f"{where} is not valid JSON: {error}", ExitCode.INVALID) from None


def _send(args: argparse.Namespace, out: Output) -> int:
    location = database_location(args)
    payload = _payload(args.payload)
    app = load_engine(args.app) if args.app else None
    with opened(location, write=True) as storage:
        run = find_run(storage, args.run_id, location)
        if run.status.terminal:
            raise CliError(
                f"run {run.id} is {run.status}; events go only to runs that have not finished",
                ExitCode.REFUSED,
            )
        if app is not None:
            delivered = validating_engine(app, storage).send_event(run.id, args.name, payload)
        else:
            delivered = storage.deliver_event(run.id, args.name, payload)
        after = find_run(storage, run.id, location)
    if not delivered:
        raise CliError(
            f"run {run.id} is {after.status}; events go only to runs that have not finished",
            ExitCode.REFUSED,
        )
    validated = app is not None
    if out.json:
        out.document({"run": run_document(after), "event": args.name, "validated": validated})
        return ExitCode.OK
    out.line(f'delivered event "{args.name}" to run {run.id} (run is {after.status})')
    if not validated:
        out.line(
            "the payload was not validated; pass --app module:engine to check it "
            "against the workflow's wait_for_event"
        )
    return ExitCode.OK


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``events`` and ``events send`` to the top-level ``commands``."""
    events = commands.add_parser("events", help="send events to waiting runs")
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = actions.add_parser(
        "send",
        parents=[common],
        help="deliver an event to a run",
        description="Deliver event NAME with a JSON payload to a run. A run waiting for it "
        "becomes pending; one that has not reached the wait yet keeps it buffered.",
    )
    send.add_argument("run_id", metavar="ID")
    send.add_argument("name", metavar="NAME", help="the wait_for_event name")
    send.add_argument("payload", metavar="JSON", help="the payload as JSON, or - to read stdin")
    send.add_argument(
        "--app",
        metavar="MODULE:ENGINE",
        help="validate NAME and the payload against this engine's workflow",
    )
    send.set_defaults(handler=_send)
