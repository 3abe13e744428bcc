"""A real HAProxy in front of the demo, health-checking it on /readyz with examples/haproxy.cfg."""

from __future__ import annotations

import csv
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2
import pytest

from tests.servers import EXAMPLES, Process, Server, free_port, serve_demo

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)

if HAPROXY is None:
    if os.environ.get("CI") == "true":
        pytest.fail("haproxy is not installed; .ci/run installs it (apt-get install haproxy)")
    pytest.skip("haproxy is not installed (apt-get install haproxy)", allow_module_level=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    env = {"HEALTHKIT_DEMO_DB": str(tmp_path / "demo.sqlite3"), "HEALTHKIT_DEMO_MAIL_PORT": str(free_port())}
    server = serve_demo(env)
    yield server
    server.stop()


@pytest.fixture
def haproxy(demo: Server, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    stats = tmp_path / "haproxy.sock"
    port = free_port()
    env = {
        "APP_ADDR": f"127.0.0.1:{demo.port}",
        "HAPROXY_BIND": f"127.0.0.1:{port}",
        "HAPROXY_STATS": str(stats),
        "CHECK_INTER": "100ms",
    }
    assert HAPROXY is not None
    proxy = Server([HAPROXY, "-f", str(EXAMPLES / "haproxy.cfg"), "-db"], port, env)
    yield proxy, stats
    proxy.stop()


def server_status(stats: Path) -> str:
    """The status HAProxy gives the backend server (UP, DOWN, "UP 1/2", ...), from `show stat`."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(stats))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = csv.DictReader(data.decode().lstrip("# ").splitlines())
    return next(row["status"] for row in rows if row["pxname"] == "app" and row["svname"] == "app1")


async def until_status(stats: Path, wanted: str, within: float = 10) -> None:
    seen = ""
    with anyio.fail_after(within):
        while (seen := await anyio.to_thread.run_sync(server_status, stats)) != wanted:
            await anyio.sleep(0.05)
    assert wanted == seen


async def test_haproxy_takes_the_server_out_when_readiness_fails_and_back_when_it_passes_or_warns(
    demo: Server, haproxy: tuple[Server, Path]
) -> None:
    proxy, stats = haproxy
    async with httpx2.AsyncClient(timeout=5) as client:
        readiness = await client.get(f"{demo.url}/readyz")
        await until_status(stats, "UP")  # readiness warns (the optional mail relay is down): in rotation
        through = await client.get(f"{proxy.url}/")

        await client.post(f"{demo.url}/maintenance")
        await until_status(stats, "DOWN")
        refused = await client.get(f"{proxy.url}/")

        await client.delete(f"{demo.url}/maintenance")
        await until_status(stats, "UP")
        back = await client.get(f"{proxy.url}/")

    assert (200, "warn") == (readiness.status_code, readiness.json()["status"])
    assert 200 == through.status_code
    assert 503 == refused.status_code  # HAProxy's own answer: no server in rotation
    assert 200 == back.status_code


def test_the_example_configuration_is_valid() -> None:
    assert HAPROXY is not None
    checked = Process([HAPROXY, "-c", "-f", str(EXAMPLES / "haproxy.cfg")])

    assert 0 == checked.process.wait(10)
