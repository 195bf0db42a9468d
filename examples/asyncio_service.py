"""An asyncio web service that enqueues a workflow per request and awaits its result.

The same shape as a FastAPI or Starlette endpoint, on the standard library
alone: ``POST /quotes`` with a JSON body enqueues a durable run, awaits it
with ``engine.aio.wait`` (which never blocks the event loop), and answers with
the run's output. The handlers are ``async def`` too; they run on the event
loops of the engine's StepActors, not on the server's loop.

Run it and try it::

    python examples/asyncio_service.py --port 8080 &
    curl -s -X POST localhost:8080/quotes -d '{"sku": "pro", "seats": 12}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from reflow_actors import Engine, StepContext, create_engine, create_workflow
from reflow_actors.storage import SQLiteStorage

PRICES = {"starter": 9, "pro": 29, "team": 99}


async def price(ctx: StepContext[dict[str, Any], None]) -> dict[str, Any]:
    await asyncio.sleep(0.01)  # a call to a pricing service, say
    unit = PRICES[ctx.input["sku"]]
    return {"sku": ctx.input["sku"], "seats": ctx.input["seats"], "unit": unit}


async def discount(ctx: StepContext[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    quote = dict(ctx.prev)
    quote["discount"] = 0.1 if quote["seats"] >= 10 else 0.0
    quote["total"] = round(quote["unit"] * quote["seats"] * (1 - quote["discount"]), 2)
    return quote


quote = create_workflow("quote").step("price", price).step("discount", discount)


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, engine: Engine
) -> None:
    """One HTTP/1.1 request: ``POST /quotes`` with a JSON body."""
    request_line = (await reader.readline()).decode()
    headers: dict[str, str] = {}
    while (line := (await reader.readline()).decode().strip()) != "":
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    method, path, _ = request_line.split(" ", 2)
    payload: dict[str, Any]
    if method != "POST" or path != "/quotes":
        status, payload = "404 Not Found", {"error": "POST /quotes"}
    else:
        try:
            run = await engine.aio.enqueue(quote, json.loads(body))
            info = await engine.aio.wait(run.id, timeout=10)
            result = info.step("discount")
            status, payload = "200 OK", {"run_id": run.id, "quote": result and result.output}
        except (ValueError, KeyError) as error:
            status, payload = "400 Bad Request", {"error": str(error)}
    data = json.dumps(payload).encode()
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    writer.close()


async def serve(engine: Engine, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled, with the engine started for the server's lifetime."""
    await engine.aio.start(poll_interval=1.0)
    server = await asyncio.start_server(lambda r, w: handle(r, w, engine), "127.0.0.1", port)
    try:
        if ready is not None:
            ready.set()
        async with server:
            await server.serve_forever()
    finally:
        await engine.aio.stop()


def make_engine(path: str = "quotes.db") -> Engine:
    """The service's engine: the quote workflow on a local SQLite file."""
    return create_engine(storage=SQLiteStorage(path), workflows=[quote], concurrency=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", default="quotes.db")
    options = parser.parse_args()
    asyncio.run(serve(make_engine(options.db), options.port))


if __name__ == "__main__":
    main()
