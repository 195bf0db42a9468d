"""Process plumbing shared by the chaos, fencing and contention suites.

``wait_until`` is the only way these suites wait for an outcome: a condition
polled against a deadline. :class:`Worker` is one engine subprocess: started
without blocking, asked whether it printed ``ready`` without blocking (so a
driver can kill a worker that is still starting), killed with ``SIGKILL``,
frozen and thawed with ``SIGSTOP``/``SIGCONT``, or stopped cleanly by closing
its stdin.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TypeVar

import apsw

from tests.support import wait_until

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]


def write_lock_free(db: str) -> bool:
    """Whether a write transaction on ``db`` could start right now (without waiting)."""
    connection = apsw.Connection(db)
    try:
        connection.set_busy_timeout(0)
        try:
            connection.execute("BEGIN IMMEDIATE")
        except apsw.BusyError:
            return False
        connection.execute("ROLLBACK")
        return True
    finally:
        connection.close()


class Worker:
    """An engine subprocess running ``script`` with ``args``; stderr appends to ``log``."""

    def __init__(self, script: Path, args: list[str], log: Path) -> None:
        self._log: IO[bytes] = log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
            env=env,
        )
        self.pid = self.process.pid
        self.ready = False
        self.started = time.monotonic()
        self.killed = False

    # --- readiness ----------------------------------------------------------------

    def poll_ready(self) -> bool:
        """Whether the worker has printed ``ready`` (never blocks)."""
        if self.ready:
            return True
        stdout = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], 0)
        if readable:
            line = stdout.readline().decode(errors="replace")
            if line.startswith("ready "):
                assert int(line.split()[1]) == self.pid
                self.ready = True
        return self.ready

    def wait_ready(self, timeout: float = 30.0) -> Worker:
        """Block until the worker is ready; ``AssertionError`` if it dies or times out."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.pid} exited with {self.process.returncode}")
            return self.poll_ready()

        wait_until(ready, timeout=timeout, interval=0.01, what=f"worker {self.pid} to be ready")
        return self

    def send_line(self, line: str) -> None:
        """Write one line to the worker's stdin."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(line.encode() + b"\n")
        stdin.flush()

    def read_line(self, timeout: float) -> str:
        """The next line the worker prints (after ``ready``); ``AssertionError`` on timeout."""
        stdout = self.process.stdout
        assert stdout is not None
        wait_until(
            lambda: select.select([stdout], [], [], 0)[0],
            timeout=timeout,
            interval=0.01,
            what=f"a line from worker {self.pid}",
        )
        return stdout.readline().decode(errors="replace").strip()

    # --- signals ------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether the process is still running (frozen counts as running)."""
        return self.process.poll() is None

    def kill(self) -> int:
        """SIGKILL the worker, reap it, and return its exit status."""
        self.killed = True
        # It may have died on its own a moment ago (a self-kill); reaping tells which.
        # send_signal never signals a process that was already reaped (no pid reuse).
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=30)

    def freeze(self) -> None:
        """SIGSTOP the worker and wait until the kernel reports it stopped."""
        self.process.send_signal(signal.SIGSTOP)
        wait_until(self.frozen, timeout=5, what=f"worker {self.pid} to stop")

    def freeze_between_writes(self, db: str, attempts: int = 200) -> None:
        """SIGSTOP the worker at a moment it does not hold the database's write lock.

        A process frozen inside a write transaction keeps SQLite's write lock
        (a file lock the kernel holds for it), so every other process's writes
        wait for it: that is SQLite's single writer, not something a lease can
        fence. Tests of lease fencing freeze the worker between writes: if the
        lock turns out to be held, thaw it and try again.
        """
        for _ in range(attempts):
            self.freeze()
            if write_lock_free(db):
                return
            self.thaw()
        raise AssertionError(f"worker {self.pid} held the write lock at {attempts} freezes")

    def thaw(self) -> None:
        """SIGCONT a frozen worker."""
        self.process.send_signal(signal.SIGCONT)

    def frozen(self) -> bool:
        """Whether the process is in the stopped state (``T`` in ``/proc/<pid>/stat``)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")

    def stop(self, timeout: float = 30.0) -> int:
        """Close its stdin (it stops its engine and exits); return the exit code."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.close()
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kill the process if it still runs and release its pipes and log."""
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL ends a frozen (SIGSTOPped) process too
            self.process.wait(timeout=30)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        self._log.close()
