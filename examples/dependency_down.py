"""Starting while the database is down: the app starts not ready, and turns ready, without a restart,
once PostgreSQL answers.

    HEALTHKIT_POSTGRES_DSN=postgresql://user:password@127.0.0.1:5432/db \\
        uvicorn dependency_down:app --app-dir examples

A pool made in the lifespan with ``await asyncpg.create_pool(dsn)`` connects there and then: with
the database down, the lifespan raises and the app never starts, so it can never report "not
ready" (and a crash-looping pod is slower to come back than a running one). Here the pool is opened
in the background instead, trying again every second: the app starts at once, liveness passes,
readiness answers 503 naming ``postgres`` ("not connected yet") until the pool is open, then
checks the database through the pool as usual. asyncpg runs on asyncio only.

Settings from the environment: HEALTHKIT_POSTGRES_DSN (required), HEALTHKIT_TOKEN (a bearer
token, 16 characters or more: requests that send it see details on /health and /readyz).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncpg
from fastapi import FastAPI, HTTPException

from healthkit import Check, Health, Probe, Result, Status, bearer_token
from healthkit_checks import postgres

DSN = os.environ["HEALTHKIT_POSTGRES_DSN"]
TOKEN = os.environ.get("HEALTHKIT_TOKEN")
RETRY_EVERY = 1.0  # seconds between attempts to open the pool

log = logging.getLogger("orders")


class Database:
    """The app's asyncpg pool, opened in the background: ``pool`` is None until it is open."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None
        self.last_error = "not tried yet"
        self._query = postgres.query(lambda: self.pool)  # the catalog's check, once there is a pool

    async def connect(self) -> None:
        """Open the pool, trying again every RETRY_EVERY seconds until the database answers."""
        while self.pool is None:
            try:
                self.pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=10, timeout=5)
            except Exception as exc:  # refused, starting up, timed out: the same answer, try again
                # The exception's name only: its text may hold the DSN's user or host.
                self.last_error = type(exc).__name__
                log.warning("PostgreSQL is not reachable yet (%s); trying again", self.last_error)
                await anyio.sleep(RETRY_EVERY)
        log.info("PostgreSQL pool open")

    async def check(self) -> Result:
        """Readiness: not connected yet, or a query through the pool."""
        if self.pool is None:
            output = f"not connected yet ({self.last_error}); trying again every {RETRY_EVERY:g}s"
            return Result(Status.FAIL, output=output)
        return await self._query()

    async def close(self) -> None:
        if self.pool is not None:
            with anyio.move_on_after(5):
                await self.pool.close()
            self.pool.terminate()  # what did not close in time


database = Database(DSN)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with anyio.create_task_group() as group:
        group.start_soon(database.connect)  # the lifespan does not wait for the database
        yield
        group.cancel_scope.cancel()  # still trying at shutdown: stop trying
    await database.close()


app = FastAPI(lifespan=lifespan)


@app.get("/orders")
async def orders() -> dict[str, Any]:
    if database.pool is None:
        raise HTTPException(503, "the database is not reachable yet")
    async with database.pool.acquire() as connection:
        now = await connection.fetchval("SELECT now()")
    return {"orders": [], "as_of": now.isoformat()}


health = Health(
    [Check("postgres", database.check, component_type="datastore", timeout=2, external=True)],
    readiness=Probe(details="when_authorized"),
    authorize=bearer_token(TOKEN) if TOKEN else None,
)
health.install(app)
