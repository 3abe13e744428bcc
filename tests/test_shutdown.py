"""Graceful shutdown under real servers: SIGTERM, the drain, requests in flight, the exit."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.conftest import document
from tests.servers import EXAMPLES, Server, free_port

SERVERS = {
    "uvicorn": [
        sys.executable,
        "-m",
        "uvicorn",
        "service:app",
        "--app-dir",
        str(EXAMPLES),
        "--host",
        "127.0.0.1",
    ],
    "hypercorn-asyncio": [sys.executable, str(EXAMPLES / "serve_hypercorn.py")],
    "hypercorn-trio": [sys.executable, str(EXAMPLES / "serve_hypercorn.py"), "--trio"],
}


TOKEN = "test-token-0123456789abcdef"
AUTHORIZED = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the client's loop; each server picks its own


def start(kind: str, drain: str, tmp_path: Path) -> Server:
    port = free_port()
    env = {
        "HEALTHKIT_DRAIN_DELAY": drain,
        "HEALTHKIT_READY_PERIOD": "1",
        "HEALTHKIT_SERVICE_DB": str(tmp_path / "service.sqlite3"),
        "HEALTHKIT_TOKEN": TOKEN,
    }
    return Server([*SERVERS[kind], "--port", str(port)], port, env)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


async def until_ready(client: httpx2.AsyncClient) -> None:
    with anyio.fail_after(15):
        while (await client.get("/readyz")).status_code != 200:
            await anyio.sleep(0.05)


@pytest.mark.parametrize("kind", list(SERVERS))
async def test_sigterm_fails_readiness_keeps_serving_finishes_requests_then_exits(
    kind: str, servers: list[Server], tmp_path: Path
) -> None:
    server = start(kind, "2", tmp_path)
    servers.append(server)
    async with httpx2.AsyncClient(base_url=server.url, timeout=10) as client:
        await until_ready(client)
        slow: list[httpx2.Response] = []

        async def slow_request() -> None:
            slow.append(await client.get("/slow", params={"seconds": "1.5"}))

        async with anyio.create_task_group() as group:
            group.start_soon(slow_request)
            await anyio.sleep(0.3)  # the slow request is in flight
            server.signal(signal.SIGTERM)
            signalled = time.monotonic()
            with anyio.fail_after(1.5):
                while (ready := await client.get("/readyz", headers=AUTHORIZED)).status_code != 503:
                    await anyio.sleep(0.02)
            live = await client.get("/livez")
            home = await client.get("/")
            report = await client.get("/health")
        exited = await server.exited(within=15)

    assert "shutting down: draining, the server stops in " in document(ready)["output"]
    assert 200 == live.status_code
    assert 200 == home.status_code
    assert 200 == report.status_code
    assert [200] == [response.status_code for response in slow]
    assert 2 <= exited - signalled < 12


@pytest.mark.parametrize("kind", list(SERVERS))
async def test_a_second_signal_during_the_drain_stops_at_once(
    kind: str, servers: list[Server], tmp_path: Path
) -> None:
    server = start(kind, "60", tmp_path)
    servers.append(server)
    async with httpx2.AsyncClient(base_url=server.url, timeout=10) as client:
        await until_ready(client)
        server.signal(signal.SIGTERM)
        with anyio.fail_after(1.5):
            while (await client.get("/readyz")).status_code != 503:
                await anyio.sleep(0.02)
    server.signal(signal.SIGINT)
    signalled = time.monotonic()
    exited = await server.exited(within=15)

    assert exited - signalled < 8


@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn-asyncio"])
async def test_without_a_drain_delay_the_server_stops_as_it_always_did(
    kind: str, servers: list[Server], tmp_path: Path
) -> None:
    server = start(kind, "", tmp_path)
    servers.append(server)
    async with httpx2.AsyncClient(base_url=server.url, timeout=10) as client:
        await until_ready(client)
    server.signal(signal.SIGTERM)
    signalled = time.monotonic()
    exited = await server.exited(within=15)

    assert exited - signalled < 8
