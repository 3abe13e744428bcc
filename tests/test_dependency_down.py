"""Starting while a dependency is down (examples/dependency_down.py, under a real uvicorn, against a
real PostgreSQL that is stopped when the app starts): the app starts, readiness answers 503 naming
the database, and turns 200 once the database is up, in the same process."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import anyio
import asyncpg
import httpx2
import pytest

from healthkit import Check, Health
from healthkit_checks import postgres
from tests.databases import PASSWORD, Postgres
from tests.servers import EXAMPLES, Server, free_port

TOKEN = "test-token-0123456789abcdef"
AUTHORIZED = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncpg runs on asyncio only


@pytest.fixture
def stopped(postgres_server: Postgres) -> Iterator[Postgres]:
    """The session's PostgreSQL, stopped; started again afterwards whatever happens."""
    postgres_server.stop()
    try:
        yield postgres_server
    finally:
        if not postgres_server.running():
            postgres_server.start()


async def test_the_app_starts_not_ready_and_turns_ready_when_the_database_comes_up(stopped: Postgres) -> None:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "dependency_down:app", "--app-dir", str(EXAMPLES)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {"HEALTHKIT_POSTGRES_DSN": stopped.dsn, "HEALTHKIT_TOKEN": TOKEN}
    server = Server(command, port, env)  # uvicorn serves only once the lifespan has started
    try:
        async with httpx2.AsyncClient(base_url=server.url, timeout=10) as client:
            live = await client.get("/livez")
            not_ready = await client.get("/readyz")
            why = await client.get("/readyz", headers=AUTHORIZED)
            orders_down = await client.get("/orders")
            stopped.start()
            with anyio.fail_after(20):
                while (ready := await client.get("/readyz")).status_code != 200:
                    await anyio.sleep(0.1)
            orders_up = await client.get("/orders")
        restarted = server.process.poll() is not None
    finally:
        server.stop()

    assert 200 == live.status_code
    assert 503 == not_ready.status_code
    assert {"status": "fail", "checks": {"postgres": [{"status": "fail"}]}} == not_ready.json()
    assert (
        "not connected yet (ConnectionRefusedError); trying again every 1s"
        == why.json()["checks"]["postgres"][0]["output"]
    )
    assert PASSWORD not in why.text
    assert 503 == orders_down.status_code
    assert {"status": "pass", "checks": {"postgres": [{"status": "pass"}]}} == ready.json()
    assert 200 == orders_up.status_code
    assert not restarted


async def test_a_pool_that_opens_no_connection_up_front_starts_with_the_database_down(
    stopped: Postgres,
) -> None:
    """The shorter way where a warm pool is not needed: asyncpg's min_size=0 connects on first use."""
    pool = await asyncpg.create_pool(stopped.dsn, min_size=0, max_size=2)  # succeeds: no connection yet
    health = Health([Check("postgres", postgres.query(pool), timeout=2)])
    try:
        down = await health.run("readyz")
        stopped.start()
        up = await health.run("readyz")
    finally:
        await pool.close()

    assert "connection refused" in (down.checks["postgres"].output or "")
    assert "pass" == up.status
