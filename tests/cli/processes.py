"""A ``reflow worker`` subprocess whose ``--json`` records the tests wait on."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson


class Worker:
    """``python -m reflow_actors worker REFERENCE --json`` in ``folder``, its records in a queue."""

    def __init__(
        self, folder: Path, *extra: str, reference: str = "app:engine", workflow: str = "work"
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reflow_actors", "worker", reference, "--json",
             "--poll-interval", "0.05", *extra],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.records: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            started = self.expect(lambda record: record["type"] == "worker_started")
            assert started["pid"] == self.process.pid
            assert started["workflows"] == [workflow]
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.records.put(orjson.loads(line))

    def expect(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        """The first record (seen or still to come) that ``match``es."""
        deadline = time.monotonic() + timeout
        for record in self.seen:
            if match(record):
                return record
        while True:
            remaining = deadline - time.monotonic()
            ended = self.process.poll() is not None and not self._reader.is_alive()
            if remaining <= 0 or (ended and self.records.empty()):
                raise AssertionError(f"no matching record; saw {self.seen}\n{self.stderr()}")
            try:
                record = self.records.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                continue
            self.seen.append(record)
            if match(record):
                return record

    def stderr(self) -> str:
        if self.process.poll() is None:
            return ""
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def signal(self, number: int, timeout: float = 10) -> tuple[int, float]:
        """Send ``number``; return the exit code and how long the exit took."""
        started = time.monotonic()
        self.process.send_signal(number)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
