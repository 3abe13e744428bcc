"""A real HAProxy in front of the demo, health-checking it on /readyz with examples/haproxy.cfg,
and with its default check (examples/haproxy-default-check.cfg: OPTIONS / HTTP/1.0, no Host)."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import httpx2
import pytest

from tests.servers import EXAMPLES, Process, Server, free_port, serve_demo

ROOT = EXAMPLES.parent

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


def start_haproxy(config: str, app_port: int, tmp_path: Path) -> tuple[Server, Path]:
    """HAProxy with examples/`config` in front of 127.0.0.1:`app_port`, checking every 100 ms:
    (the proxy, its stats socket)."""
    stats = tmp_path / "haproxy.sock"
    port = free_port()
    env = {
        "APP_ADDR": f"127.0.0.1:{app_port}",
        "HAPROXY_BIND": f"127.0.0.1:{port}",
        "HAPROXY_STATS": str(stats),
        "CHECK_INTER": "100ms",
    }
    assert HAPROXY is not None
    return Server([HAPROXY, "-f", str(EXAMPLES / config), "-db"], port, env), stats


@pytest.fixture
def haproxy(demo: Server, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    proxy, stats = start_haproxy("haproxy.cfg", demo.port, tmp_path)
    yield proxy, stats
    proxy.stop()


def server_stat(stats: Path) -> dict[str, str]:
    """HAProxy's `show stat` row for the backend server: status (UP, DOWN, "UP 1/2", ...),
    check_status (L7OK, L7STS, ...), check_code (the last check's HTTP status), lastchg (seconds
    since the status changed), ... While a check is in progress ("* L7OK") its check_code may read 0
    (seen one read in fifty at a 100 ms interval), so such a row is read again, for up to 2 s."""
    deadline = time.monotonic() + 2
    while True:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(stats))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = csv.DictReader(data.decode().lstrip("# ").splitlines())
        row = next(row for row in rows if row["pxname"] == "app" and row["svname"] == "app1")
        if not row["check_status"].startswith("* ") or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    row["check_status"] = row["check_status"].removeprefix("* ")
    return row


def server_status(stats: Path) -> str:
    return server_stat(stats)["status"]


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


@pytest.mark.parametrize("config", ["haproxy.cfg", "haproxy-default-check.cfg"])
def test_the_example_configuration_is_valid(config: str) -> None:
    assert HAPROXY is not None
    checked = Process([HAPROXY, "-c", "-f", str(EXAMPLES / config)])

    assert 0 == checked.process.wait(10)


async def test_haproxys_default_check_is_options_slash_over_http_1_0_with_no_header_at_all(
    tmp_path: Path,
) -> None:
    requests: list[bytes] = []
    seen = anyio.Event()

    async def record(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                try:
                    data += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return  # HAProxy stopping mid-check
            requests.append(data)
            seen.set()
            await stream.send(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, record)
        proxy, _stats = await anyio.to_thread.run_sync(
            start_haproxy, "haproxy-default-check.cfg", port, tmp_path
        )
        try:
            with anyio.fail_after(10):
                await seen.wait()
        finally:
            proxy.stop()
            group.cancel_scope.cancel()

    assert b"OPTIONS / HTTP/1.0\r\n\r\n" == requests[0]


async def test_haproxys_default_check_keeps_the_readme_recipe_down(tmp_path: Path) -> None:
    """The bug `routes(root=True)` fixes: with `health.routes()` alone, `OPTIONS /` gets 404."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.readme_app:app", "--app-dir", str(ROOT)]
    app = Server([*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], port)
    proxy, stats = start_haproxy("haproxy-default-check.cfg", port, tmp_path)
    try:
        async with httpx2.AsyncClient(timeout=5) as client:
            readiness = await client.get(f"{app.url}/readyz")
        await until_status(stats, "DOWN")
        down = await anyio.to_thread.run_sync(server_stat, stats)
        # Down for 2 s straight: 20 more checks at 100 ms, any 2 good ones in a row would bring it UP.
        with anyio.fail_after(10):
            while int(down["lastchg"]) < 2:
                await anyio.sleep(0.1)
                down = await anyio.to_thread.run_sync(server_stat, stats)
                assert "DOWN" == down["status"]
    finally:
        proxy.stop()
        app.stop()

    assert 200 == readiness.status_code  # the service is ready; HAProxy asks the wrong path
    assert ("L7STS", "404") == (down["check_status"], down["check_code"])


async def test_haproxys_default_check_follows_readiness_at_the_root_of_the_demo(
    demo: Server, tmp_path: Path
) -> None:
    proxy, stats = start_haproxy("haproxy-default-check.cfg", demo.port, tmp_path)
    try:
        # The request HAProxy sends, byte for byte, straight to the demo's uvicorn.
        async with await anyio.connect_tcp("127.0.0.1", demo.port) as stream:
            await stream.send(b"OPTIONS / HTTP/1.0\r\n\r\n")
            raw = b""
            with suppress(anyio.EndOfStream):
                while True:
                    raw += await stream.receive()
        async with httpx2.AsyncClient(timeout=5) as client:
            await until_status(stats, "UP")  # readiness warns (the optional mail relay is down)
            up = await anyio.to_thread.run_sync(server_stat, stats)
            homepage = await client.get(f"{proxy.url}/")

            await client.post(f"{demo.url}/maintenance")
            await until_status(stats, "DOWN")
            down = await anyio.to_thread.run_sync(server_stat, stats)

            await client.delete(f"{demo.url}/maintenance")
            await until_status(stats, "UP")
            back = await client.get(f"{proxy.url}/")
    finally:
        proxy.stop()
    head, _, body = raw.partition(b"\r\n\r\n")

    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: application/health+json" in head
    assert b"allow: GET, HEAD, OPTIONS" in head
    assert b'{"status":"warn"' in body
    assert ("L7OK", "200") == (up["check_status"], up["check_code"])
    assert homepage.text.startswith("healthkit demo:")  # GET / through HAProxy: still the homepage
    assert ("L7STS", "503") == (down["check_status"], down["check_code"])
    assert 200 == back.status_code
