"""A plain ASGI app with a lifespan of its own, and healthkit in front: ``app = health.wrap(orders)``.

    uvicorn plain_asgi:app --app-dir examples
    python examples/serve_hypercorn.py --app plain_asgi [--trio]

``health.wrap`` answers healthkit's paths and hands every other request (and websocket) to the
app. At start-up the server's lifespan runs the app's own first (here it opens its order book),
then healthkit's; at shutdown healthkit's ends first. Works the same way in front of any ASGI
framework that runs its own lifespan (Litestar, Quart, Channels' routers...).

Settings from the environment: HEALTHKIT_DRAIN_DELAY (seconds, default 15).
"""

from __future__ import annotations

import os

import anyio
from starlette.types import Receive, Scope, Send

from healthkit import Check, Health, Result, Status

book: dict[str, int] | None = None  # opened by the app's lifespan, closed at its end


async def orders(scope: Scope, receive: Receive, send: Send) -> None:
    """The app: its own lifespan, GET / and GET /slow."""
    global book
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                book = {"orders": 0}
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                book = None
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await anyio.sleep(1.5)
    body = b"orders (plain ASGI): book open\n" if book is not None else b"book closed\n"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def order_book() -> Result:
    """Readiness, refreshed in the background: the app's book is open."""
    if book is None:
        return Result(Status.FAIL, output="the order book is closed")
    return Result(Status.PASS, observed_value=book["orders"], observed_unit="orders")


health = Health(
    [Check("orderBook", order_book, refresh_every=5, component_type="datastore")],
    drain_delay=float(os.environ.get("HEALTHKIT_DRAIN_DELAY", "15")),
)
app = health.wrap(orders)
