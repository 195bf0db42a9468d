"""``reflow worker module:engine``: run the user's engine until SIGINT or SIGTERM.

The first signal stops the engine gracefully: it stops claiming, aborts the
signals of steps in flight and waits for its actors. Runs it was executing
stay ``running``, and any worker reclaims them once their lease expires. A
second signal exits at once with 130.

The engine decides which database it uses. An explicit ``--db`` is exported
as ``$REFLOW_DB`` before the module is imported, for apps that read it (the
demo's workflow module does).

Progress is one line per run event on stdout (``--verbose`` adds steps);
with ``--json``, one JSON object per line.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from ..engine import Engine
from ..events import Event
from ..storage import SQLiteStorage
from ..stream import EventStream
from .app import load_engine
from .errors import ExitCode
from .output import Output
from .progress import RUN_EVENTS, describe, event_record
from .render import local_time

__all__ = ["register"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STOP_TIMEOUT = 30.0  # seconds engine.stop() may wait for its actors
_LOG_JOIN_TIMEOUT = 5.0


class _StopRequested(Exception):  # noqa: N818 - a request, not an error
    """Raised in the main thread by the first SIGINT/SIGTERM."""


def _first_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    raise _StopRequested(signal.Signals(signum).name)


def _second_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    # A handler must not use the (possibly busy) buffered streams: write directly.
    os.write(2, f"reflow: {signal.Signals(signum).name} again: exiting now\n".encode())
    os._exit(ExitCode.INTERRUPTED)


@contextmanager
def _handlers(handler: Any) -> Iterator[None]:
    previous = {number: signal.signal(number, handler) for number in _SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _wait_for_signal(ready: Callable[[], None]) -> str:
    """Call ``ready``, then block until SIGINT or SIGTERM; return the signal's name.

    The handlers are in place before ``ready`` runs, so a signal sent as soon
    as the worker says it has started is handled too.
    """
    try:
        with _handlers(_first_signal):
            ready()
            while True:
                time.sleep(3600)
    except _StopRequested as stop:
        return str(stop)


def _log(stream: EventStream, out: Output, verbose: bool) -> None:
    for event in stream:
        if not verbose and not isinstance(event, RUN_EVENTS):
            continue
        if out.json:
            out.record(event_record(event))
        else:
            out.line(_line(event))


def _line(event: Event) -> str:
    stamp = local_time(round(time.time() * 1000))
    return f"{stamp}  {event.run_id}  {event.workflow}  {describe(event)}"


def _describe_storage(engine: Engine) -> str:
    storage = engine.storage
    if isinstance(storage, SQLiteStorage):
        return storage.path
    return type(storage).__name__


def _announce(out: Output, engine: Engine, what: str, **fields: Any) -> None:
    if out.json:
        out.record({"type": what, **fields})
        return
    if what == "worker_started":
        names = ", ".join(sorted(engine.workflows)) or "(none)"
        out.line(
            f"worker started (pid {os.getpid()}) on {_describe_storage(engine)}: "
            f"workflows {names}; concurrency {engine.concurrency}. Ctrl-C to stop."
        )
    elif what == "worker_stopping":
        out.line(
            f"{fields['signal']}: stopping; runs in flight stay running and are "
            "reclaimed once their lease expires (again to exit at once)"
        )
    else:
        out.line("worker stopped")


def _check_database(args: argparse.Namespace, engine: Engine, out: Output) -> None:
    given: str | None = getattr(args, "db", None)
    storage = engine.storage
    if (
        given
        and isinstance(storage, SQLiteStorage)
        and os.path.abspath(storage.path) != os.path.abspath(given)  # noqa: PTH100
    ):
        out.note(
            f"reflow: note: --db {given} is not the engine's database; "
            f"the engine uses {storage.path}"
        )


def _worker(args: argparse.Namespace, out: Output) -> int:
    given: str | None = getattr(args, "db", None)
    if given:
        os.environ["REFLOW_DB"] = given
    engine = load_engine(args.app)
    _check_database(args, engine, out)
    stream = engine.stream()  # unbounded: logging never slows a run down
    logger = threading.Thread(
        target=_log, args=(stream, out, args.verbose), name="reflow-worker-log", daemon=True
    )
    logger.start()
    try:
        engine.start(poll_interval=args.poll_interval)
        name = _wait_for_signal(
            lambda: _announce(
                out,
                engine,
                "worker_started",
                pid=os.getpid(),
                workflows=sorted(engine.workflows),
                database=_describe_storage(engine),
            )
        )
        with _handlers(_second_signal):
            _announce(out, engine, "worker_stopping", signal=name)
            engine.stop(timeout=_STOP_TIMEOUT)
            logger.join(_LOG_JOIN_TIMEOUT)
            engine.storage.close()
            _announce(out, engine, "worker_stopped")
    finally:
        engine.stop(timeout=_STOP_TIMEOUT)  # idempotent; covers an error before the signal
        stream.close()
    return ExitCode.OK


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``worker`` to the top-level ``commands``."""
    worker = commands.add_parser(
        "worker",
        parents=[common],
        help="run an engine from your code until Ctrl-C or SIGTERM",
        description="Import MODULE (the current directory is importable), take ENGINE (an "
        "Engine, or a function with no arguments returning one), start it and log runs until "
        "SIGINT or SIGTERM; then stop gracefully, leaving runs in flight reclaimable. A second "
        "signal exits at once (130). An explicit --db is exported as $REFLOW_DB for the module.",
    )
    worker.add_argument("app", metavar="MODULE:ENGINE", help="e.g. myapp.workflows:engine")
    worker.add_argument(
        "--poll-interval",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="how often to look for runs enqueued elsewhere, due sleeps and stale leases "
        "(default 1)",
    )
    worker.add_argument("-v", "--verbose", action="store_true", help="log step events too")
    worker.set_defaults(handler=_worker)
