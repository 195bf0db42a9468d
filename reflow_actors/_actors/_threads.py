"""Reusable threads for actor loops: one thread per live actor, but not a new one each time.

pykka runs each ``ThreadingActor`` on a thread of its own, and so do we. But a
supervisor per run means an actor per run, and ``Thread.start()`` waits for the
new thread to get the GIL before it returns: on a busy engine that wait, not
the work, bounds how fast runs can start. So an actor's loop runs on an idle
thread from this pool when there is one, and a thread whose actor stopped
goes back to the pool (and exits after a while with nothing to do).

It also knows every thread it ran, so ``stop()`` can join them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["ActorThreads"]

_IDLE_NAME = "reflow-idle"


class _Worker:
    __slots__ = ("condition", "pool", "task", "thread")

    def __init__(self, pool: ActorThreads) -> None:
        self.pool = pool
        self.condition = threading.Condition(threading.Lock())
        self.task: tuple[Callable[[], None], str] | None = None
        self.thread = threading.Thread(target=self._main, name=_IDLE_NAME, daemon=True)

    def assign(self, loop: Callable[[], None], name: str) -> None:
        with self.condition:
            self.task = (loop, name)
            self.condition.notify()

    def _main(self) -> None:
        pool = self.pool
        thread = self.thread
        while True:
            with self.condition:
                # Checked under the condition close() notifies through: no lost wake-up.
                if self.task is None and not pool.closed:
                    self.condition.wait(pool.idle_timeout)
                task, self.task = self.task, None
            if task is None:
                if pool.retire(self):
                    return
                continue
            loop, name = task
            thread.name = name
            try:
                loop()
            finally:
                thread.name = _IDLE_NAME
            if not pool.release(self):
                return


class ActorThreads:
    """A cached pool of threads that run actor loops (daemon threads)."""

    def __init__(self, idle_timeout: float = 30.0) -> None:
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._closed = False

    def run(self, loop: Callable[[], None], name: str) -> threading.Thread:
        """Run ``loop`` on an idle thread (or a new one) named ``name``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine's actor threads are shut down")
            worker = self._idle.pop() if self._idle else None
            fresh = worker is None
            if worker is None:
                worker = _Worker(self)
                self._workers.append(worker)
                # Keep threads not started yet (ident None): another caller's, about to run.
                self._threads = [
                    known for known in self._threads if known.ident is None or known.is_alive()
                ]
                self._threads.append(worker.thread)
            # Under the pool lock, so an idle worker timing out right now sees the task.
            worker.assign(loop, name)
        if fresh:
            worker.thread.name = name
            worker.thread.start()
        return worker.thread

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def release(self, worker: _Worker) -> bool:
        """A worker's actor stopped: keep it for reuse (``False``: exit instead)."""
        with self._lock:
            if self._closed:
                self._workers.remove(worker)
                return False
            self._idle.append(worker)
            return True

    def retire(self, worker: _Worker) -> bool:
        """An idle worker timed out: exit unless it was just given work."""
        with self._lock:
            with worker.condition:
                if worker.task is not None:
                    return False
            if worker in self._idle:
                self._idle.remove(worker)
            if worker in self._workers:
                self._workers.remove(worker)
            return True

    def close(self) -> None:
        """No new loops; idle threads exit now, busy ones when their actor stops."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            for worker in idle:
                self._workers.remove(worker)
        for worker in idle:
            with worker.condition:
                worker.condition.notify()

    def threads(self) -> list[threading.Thread]:
        """Every thread currently owned by the pool."""
        with self._lock:
            return [worker.thread for worker in self._workers]

    def join(
        self, timeout: float | None, skip: list[threading.Thread] | None = None
    ) -> list[threading.Thread]:
        """Join every thread (but ``skip``) within ``timeout`` s; return those still alive."""
        with self._lock:
            threads = list(self._threads)
        current = threading.current_thread()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            if thread is current or (skip and thread in skip) or not thread.is_alive():
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return [
            thread
            for thread in threads
            if thread.is_alive() and thread is not current and not (skip and thread in skip)
        ]
