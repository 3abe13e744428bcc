"""FastAPI with a lifespan of its own, and healthkit added in one call: ``health.install(app)``.

    uvicorn fastapi_app:app --app-dir examples
    gunicorn fastapi_app:app --chdir examples -k uvicorn_worker.UvicornWorker -w 2 --graceful-timeout 45
    python examples/serve_hypercorn.py --app fastapi_app [--trio]

The app's lifespan opens its resources (here an in-memory order book standing in for a pool)
before healthkit's lifespan starts, and closes them after healthkit's has stopped: the background
check below always finds the book open. On SIGTERM, readiness fails at once while the app keeps
serving, and the server stops after the drain.

Settings from the environment: HEALTHKIT_DRAIN_DELAY (seconds, default 15).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from healthkit import Check, Health, Result, Status


class OrderBook:
    """Stands for the app's pool: opened in the app's lifespan, closed at its end."""

    def __init__(self) -> None:
        self.orders: dict[int, int] = {}
        self.open = False


book = OrderBook()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    book.open = True
    yield
    book.open = False


async def order_book() -> Result:
    """Readiness, refreshed in the background every 5 s: the book is open."""
    if not book.open:
        return Result(Status.FAIL, output="the order book is closed")
    return Result(Status.PASS, observed_value=len(book.orders), observed_unit="orders")


app = FastAPI(lifespan=lifespan)


@app.get("/orders")
async def orders() -> dict[str, int]:
    return {"orders": len(book.orders)}


@app.get("/slow")
async def slow(seconds: float = 1.0) -> dict[str, float]:
    """A slow request, to watch the drain let it finish."""
    await anyio.sleep(min(seconds, 30.0))
    return {"slept": seconds}


health = Health(
    [Check("orderBook", order_book, refresh_every=5, component_type="datastore")],
    drain_delay=float(os.environ.get("HEALTHKIT_DRAIN_DELAY", "15")),
)
health.install(app)  # last, once every router is included
