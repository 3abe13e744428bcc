"""The integration recipes under real servers: FastAPI (health.install), Django and a plain ASGI app
(health.wrap), under uvicorn, hypercorn on trio, and gunicorn with uvicorn workers.

Each recipe is an example in examples/, served on a free loopback port. It must serve the app and
healthkit side by side, run healthkit's lifespan (a background check has its result), and drain on
SIGTERM: readiness fails at once while the app keeps serving and a request in flight finishes,
then the server exits.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.servers import EXAMPLES, Server, free_port

DRAIN = 2.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the client's loop; each server picks its own


@dataclass(frozen=True)
class Recipe:
    server: str  # uvicorn, hypercorn-trio, gunicorn
    target: str  # MODULE:ATTR in examples/
    page: str  # a path the app itself serves
    slow: str  # a request of the app's that takes 1.5 s
    background: str  # a check refreshed in the background

    def command(self, port: int) -> list[str]:
        module = self.target.split(":")[0]
        if self.server == "uvicorn":
            where = ["--app-dir", str(EXAMPLES), "--host", "127.0.0.1", "--port", str(port)]
            return [sys.executable, "-m", "uvicorn", self.target, *where, "--log-level", "warning"]
        if self.server == "hypercorn-trio":
            script = str(EXAMPLES / "serve_hypercorn.py")
            return [sys.executable, script, "--app", module, "--trio", "--port", str(port)]
        assert self.server == "gunicorn"
        workers = ["--worker-class", "uvicorn_worker.UvicornWorker", "--workers", "2"]
        where = ["--chdir", str(EXAMPLES), "--bind", f"127.0.0.1:{port}"]
        quiet = ["--graceful-timeout", "20", "--log-level", "warning"]
        return [sys.executable, "-m", "gunicorn", self.target, *workers, *where, *quiet]


FASTAPI = ("fastapi_app:app", "/orders", "/slow?seconds=1.5", "orderBook")
DJANGO = ("django_site:application", "/", "/slow?seconds=1.5", "queue")
PLAIN = ("plain_asgi:app", "/", "/slow", "orderBook")

RECIPES = {
    "fastapi-uvicorn": Recipe("uvicorn", *FASTAPI),
    "fastapi-hypercorn-trio": Recipe("hypercorn-trio", *FASTAPI),
    "fastapi-gunicorn": Recipe("gunicorn", *FASTAPI),
    "django-uvicorn": Recipe("uvicorn", *DJANGO),
    "django-gunicorn": Recipe("gunicorn", *DJANGO),
    "plain-asgi-uvicorn": Recipe("uvicorn", *PLAIN),
    "plain-asgi-hypercorn-trio": Recipe("hypercorn-trio", *PLAIN),
}


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


async def until_ready(client: httpx2.AsyncClient) -> None:
    with anyio.fail_after(20):
        while (await client.get("/readyz")).status_code != 200:
            await anyio.sleep(0.05)


@pytest.mark.parametrize("name", list(RECIPES))
async def test_serves_runs_the_lifespan_and_drains_on_sigterm(
    name: str, servers: list[Server], tmp_path: Path
) -> None:
    recipe = RECIPES[name]
    port = free_port()
    env = {"HEALTHKIT_DRAIN_DELAY": str(DRAIN), "HEALTHKIT_DJANGO_DB": str(tmp_path / "django.sqlite3")}
    server = Server(recipe.command(port), port, env)
    servers.append(server)
    async with httpx2.AsyncClient(base_url=server.url, timeout=10) as client:
        await until_ready(client)
        page = await client.get(recipe.page)
        report = await client.get("/health?verbose")
        slow: list[httpx2.Response] = []

        async def slow_request() -> None:
            slow.append(await client.get(recipe.slow))

        async with anyio.create_task_group() as group:
            group.start_soon(slow_request)
            await anyio.sleep(0.3)  # the slow request is in flight
            server.signal(signal.SIGTERM)
            signalled = time.monotonic()
            with anyio.fail_after(1.5):
                while (await client.get("/readyz")).status_code != 503:
                    await anyio.sleep(0.02)
            draining = [(await client.get("/readyz")).status_code for _ in range(6)]  # every worker
            live = await client.get("/livez")
            page_while_draining = await client.get(recipe.page)
        exited = await server.exited(within=20)

    assert 200 == page.status_code
    assert f"[+]{recipe.background} ok" in report.text  # healthkit's lifespan ran it in the background
    assert [503] * 6 == draining
    assert 200 == live.status_code
    assert 200 == page_while_draining.status_code
    assert [200] == [response.status_code for response in slow]
    assert DRAIN <= exited - signalled < 12
