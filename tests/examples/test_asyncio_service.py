"""The asyncio service example: a request enqueues a run and gets its result back."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example():
    spec = importlib.util.spec_from_file_location(
        "asyncio_service", EXAMPLES / "asyncio_service.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["asyncio_service"] = module
    spec.loader.exec_module(module)
    return module


async def post(port: int, path: str, body: dict[str, object]) -> tuple[str, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, payload = raw.decode().partition("\r\n\r\n")
    return head.splitlines()[0], json.loads(payload)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(60)
def test_requests_are_answered_with_the_workflows_output_while_the_loop_keeps_ticking(tmp_path):
    service = load_example()
    engine = service.make_engine(str(tmp_path / "quotes.db"))
    port = free_port()

    async def scenario():
        ready = asyncio.Event()
        server = asyncio.create_task(service.serve(engine, port, ready))
        await asyncio.wait_for(ready.wait(), 10)
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        ticking = asyncio.create_task(ticker())
        first = await post(port, "/quotes", {"sku": "pro", "seats": 12})
        several = await asyncio.gather(
            *(post(port, "/quotes", {"sku": "starter", "seats": n}) for n in range(1, 6))
        )
        missing = await post(port, "/nope", {})
        stop.set()
        await ticking
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
        return first, several, missing, ticks

    first, several, missing, ticks = asyncio.run(scenario())
    status, body = first
    assert status == "HTTP/1.1 200 OK"
    assert body["quote"] == {"sku": "pro", "seats": 12, "unit": 29, "discount": 0.1, "total": 313.2}
    assert [answer["quote"]["total"] for _, answer in several] == [9, 18, 27, 36, 45]
    assert missing[0] == "HTTP/1.1 404 Not Found"
    # The loop kept running its own task while requests awaited durable runs.
    assert ticks > 20
    info = engine.get_run_status(str(body["run_id"]))
    assert info is not None
    assert info.run.status == "completed"
    engine.storage.close()
