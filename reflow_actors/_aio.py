"""``engine.aio``: awaitable twins of the engine's methods for asyncio code.

Every call runs the blocking method on a small thread pool owned by the
engine, so the event loop is never blocked; ``wait`` polls with growing
pauses and is woken early when a run finishes in this process.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .errors import RunNotFoundError
from .records import RunInfo, RunStatus, WorkflowRun, WorkflowSchedule

if TYPE_CHECKING:
    from .engine import Engine
    from .events import Event
    from .schedule import Duration
    from .stream import EventStream
    from .workflow import Workflow

__all__ = ["AsyncEngine", "AsyncEventStream"]

T = TypeVar("T")
InputT = TypeVar("InputT")


class AsyncEventStream(AsyncIterator["Event"]):
    """An :class:`~reflow_actors.stream.EventStream` for ``async for``."""

    def __init__(self, stream: EventStream, run: Callable[..., Any]) -> None:
        self._stream = stream
        self._run = run

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        event: Event | None = await self._run(self._stream.get)
        if event is None:
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """Unsubscribe (buffered events are dropped)."""
        self._stream.close()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stream.close()


class AsyncEngine:
    """Awaitable versions of :class:`~reflow_actors.Engine` methods."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="reflow-aio")
            executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(function, *args, **kwargs))

    def close(self) -> None:
        """Release the worker threads (without waiting for calls in flight)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    async def start(self, poll_interval: float = 1.0) -> None:
        """Awaitable :meth:`Engine.start`."""
        await self._call(self._engine.start, poll_interval)

    async def stop(self, timeout: float | None = None) -> None:
        """Awaitable :meth:`Engine.stop`."""
        await self._call(self._engine.stop, timeout)

    async def tick(self) -> int:
        """Awaitable :meth:`Engine.tick`."""
        return await self._call(self._engine.tick)

    @overload
    async def enqueue(
        self,
        workflow: Workflow[InputT, Any],
        input: InputT | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> WorkflowRun: ...

    @overload
    async def enqueue(
        self, workflow: str, input: Any, *, idempotency_key: str | None = None
    ) -> WorkflowRun: ...

    async def enqueue(
        self,
        workflow: Workflow[Any, Any] | str,
        input: Any,
        *,
        idempotency_key: str | None = None,
    ) -> WorkflowRun:
        """Awaitable :meth:`Engine.enqueue`."""
        return await self._call(
            self._engine.enqueue, workflow, input, idempotency_key=idempotency_key
        )

    async def cancel(self, run_id: str) -> bool:
        """Awaitable :meth:`Engine.cancel`."""
        return await self._call(self._engine.cancel, run_id)

    async def get_run_status(self, run_id: str) -> RunInfo | None:
        """Awaitable :meth:`Engine.get_run_status`."""
        return await self._call(self._engine.get_run_status, run_id)

    async def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """Awaitable :meth:`Engine.wait`; many concurrent waits share no threads while idle."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = 0.002
        while True:
            info = await self.get_run_status(run_id)
            if info is None:
                raise RunNotFoundError(run_id)
            if info.run.status.terminal:
                return info
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f'run "{run_id}" is still {info.run.status} after {timeout:g}s')
            await asyncio.sleep(delay if remaining is None else min(delay, remaining))
            delay = min(delay * 2, 0.2)

    async def list_runs(
        self,
        *,
        status: RunStatus | str | None = None,
        workflow: str | None = None,
        limit: int = 100,
        before: int | None = None,
        before_id: str | None = None,
    ) -> list[WorkflowRun]:
        """Awaitable :meth:`Engine.list_runs`."""
        return await self._call(
            self._engine.list_runs,
            status=status,
            workflow=workflow,
            limit=limit,
            before=before,
            before_id=before_id,
        )

    async def resume(self, run_id: str) -> bool:
        """Awaitable :meth:`Engine.resume`."""
        return await self._call(self._engine.resume, run_id)

    async def send_event(self, run_id: str, name: str, payload: Any = None) -> bool:
        """Awaitable :meth:`Engine.send_event`."""
        return await self._call(self._engine.send_event, run_id, name, payload)

    @overload
    async def schedule(
        self,
        workflow: Workflow[InputT, Any],
        input: InputT | Mapping[str, Any],
        *,
        every: Duration | None = None,
        cron: str | None = None,
        key: str | None = None,
    ) -> str: ...

    @overload
    async def schedule(
        self,
        workflow: str,
        input: Any,
        *,
        every: Duration | None = None,
        cron: str | None = None,
        key: str | None = None,
    ) -> str: ...

    async def schedule(
        self,
        workflow: Workflow[Any, Any] | str,
        input: Any,
        *,
        every: Duration | None = None,
        cron: str | None = None,
        key: str | None = None,
    ) -> str:
        """Awaitable :meth:`Engine.schedule`."""
        return await self._call(
            self._engine.schedule, workflow, input, every=every, cron=cron, key=key
        )

    async def unschedule(self, key: str) -> bool:
        """Awaitable :meth:`Engine.unschedule`."""
        return await self._call(self._engine.unschedule, key)

    async def list_schedules(self) -> list[WorkflowSchedule]:
        """Awaitable :meth:`Engine.list_schedules`."""
        return await self._call(self._engine.list_schedules)

    def stream(self, buffer_size: int | None = None) -> AsyncEventStream:
        """:meth:`Engine.stream` for ``async for``."""
        return AsyncEventStream(self._engine.stream(buffer_size), self._call)
