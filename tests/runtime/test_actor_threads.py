"""The engine's actor thread pool (``reflow_actors._actors._threads.ActorThreads``) under
forced interleavings: ``stop()`` relies on ``close()`` + ``join()`` to end every
thread the pool ran, so ``join`` must report every thread still alive, and ``close``
must wake a worker that was returned to the pool at that very moment. The races are
real but rare on a live engine; these tests force the interleaving so they fail (or
pass) every time.
"""

from __future__ import annotations

import threading

import pytest

from reflow_actors._actors import _threads
from reflow_actors._actors._threads import ActorThreads

from .conftest import Background, wait_until


@pytest.mark.timeout(10)
def test_join_waits_for_the_threads_of_finished_loops():
    pool = ActorThreads(idle_timeout=5)
    ran: list[str] = []
    threads = [pool.run(lambda n=n: ran.append(n), f"loop-{n}") for n in range(3)]
    wait_until(lambda: len(ran) == 3)
    pool.close()
    assert pool.join(3) == []
    assert not any(thread.is_alive() for thread in threads)


@pytest.mark.timeout(10)
def test_join_accounts_for_a_thread_that_started_while_another_was_created(monkeypatch):
    pool = ActorThreads(idle_timeout=5)
    release_first = threading.Event()
    start_first = threading.Event()
    created: list[_threads._Worker] = []
    original_init = _threads._Worker.__init__

    def init(worker, owner):
        original_init(worker, owner)
        created.append(worker)
        if len(created) == 1:  # the first worker's thread starts late
            real_start = worker.thread.start

            def late_start():
                assert start_first.wait(5)
                real_start()

            worker.thread.start = late_start

    monkeypatch.setattr(_threads._Worker, "__init__", init)
    first = Background(pool.run, lambda: release_first.wait(5), "first")
    wait_until(lambda: len(created) == 1)
    pool.run(lambda: None, "second")  # created while the first is not started yet
    start_first.set()
    first.result()
    try:
        pool.close()
        still_alive = pool.join(0.2)
        first_thread = created[0].thread
        assert first_thread in still_alive or not first_thread.is_alive()
    finally:
        release_first.set()
        for worker in created:
            worker.thread.join(5)


@pytest.mark.timeout(10)
def test_close_wakes_a_worker_returned_to_the_pool_at_the_same_moment():
    pool = ActorThreads(idle_timeout=1)
    original_release = pool.release

    def release_then_stop(worker):
        kept = original_release(worker)
        pool.close()  # stop() lands right after the worker went back to the pool
        return kept

    pool.release = release_then_stop  # type: ignore[method-assign]
    thread = pool.run(lambda: None, "short-lived")
    try:
        wait_until(lambda: thread.name == _threads._IDLE_NAME or not thread.is_alive())
        assert pool.join(0.5) == []
        assert not thread.is_alive()
    finally:
        thread.join(5)
