"""Helpers for the catalog's tests: one check's outcome, a server's outage, an HTTP and a TLS
server on loopback."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.tls import TLSListener
from starlette.applications import Starlette

from healthkit import Check, Health
from tests.conftest import probe
from tests.databases import PASSWORD


async def outcome(check: Check) -> dict[str, object]:
    """The check's entry in the document of a Health that runs it alone."""
    _code, body = await probe(Health([check]))
    item: dict[str, object] = body["checks"][check.name][0]
    return item


class Stoppable(Protocol):
    """A test server that can be taken down and brought back (tests/databases.py, tests/brokers.py)."""

    def stop(self) -> None: ...
    def start(self) -> None: ...


async def outage(
    server: Stoppable,
    checks: Sequence[Check],
    plain: Collection[str],
    *,
    calls: int = 2,
    back_within: float = 15,
) -> None:
    """Stop the server: each check fails within its timeout and /readyz answers 503, naming it in
    one of the `plain` words (after the label) and without the password, `calls` times in a row.
    Start it again: the checks pass again within `back_within` seconds."""
    app = Starlette(routes=Health(checks).routes())
    longest = max(check.timeout for check in checks)
    assert 200 == (await probe(app, path="/readyz"))[0]

    await anyio.to_thread.run_sync(server.stop)
    try:
        for _ in range(calls):
            started = anyio.current_time()
            code, body = await probe(app, path="/readyz")
            elapsed = anyio.current_time() - started

            assert 503 == code
            for check in checks:
                assert "fail" == body["checks"][check.name][0]["status"]
                assert body["checks"][check.name][0]["output"].split(": ", 1)[-1] in plain
            assert elapsed < longest + 0.3, "within the checks' timeouts, plus scheduling"
            assert PASSWORD not in str(body)
    finally:
        await anyio.to_thread.run_sync(server.start)

    with anyio.fail_after(back_within):  # clients reconnect on their own
        while (await probe(app, path="/readyz"))[0] != 200:
            await anyio.sleep(0.1)
    body = (await probe(app, path="/readyz"))[1]
    assert {"pass"} == {body["checks"][check.name][0]["status"] for check in checks}


ANSWERS = {
    b"/ok": b"200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok",
    b"/missing": b"404 Not Found\r\ncontent-length: 0\r\n\r\n",
    b"/broken": b"500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
    b"/health": b"200 OK\r\ncontent-type: application/health+json\r\ncontent-length: 17\r\n\r\n"
    b'{"status":"warn"}',
    b"/health-pass": b"200 OK\r\ncontent-type: application/health+json\r\ncontent-length: 17\r\n\r\n"
    b'{"status":"pass"}',
    b"/health-up": b'200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"status":"UP"}',
}


@asynccontextmanager
async def http_server() -> AsyncIterator[int]:
    """A tiny HTTP/1.1 server: fixed answers by path; /hang never answers."""

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                try:
                    request += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return  # a client that only connects (the tcp check)
            path = request.split(b" ", 2)[1].split(b"?")[0]
            if path == b"/hang":
                await anyio.sleep_forever()
            await stream.send(b"HTTP/1.1 " + ANSWERS.get(path, ANSWERS[b"/missing"]))

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        try:
            yield port
        finally:
            group.cancel_scope.cancel()


@asynccontextmanager
async def tls_server(cert: Path, key: Path, *, close_notify: bool = True) -> AsyncIterator[int]:
    """A TLS server on a free loopback port, with the given certificate; yields the port.
    ``close_notify=False``: it closes connections without TLS's closing handshake, as many do."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(stream: anyio.abc.ByteStream) -> None:
        try:
            with contextlib.suppress(Exception):
                await stream.receive()
            with contextlib.suppress(Exception):
                await stream.aclose()
        finally:
            # The test ended first (the server is cancelled), or the stream is closed already;
            # older anyio versions report that (ClosedResourceError, or ssl's SHUTDOWN_WHILE_IN_INIT).
            with contextlib.suppress(Exception):
                await anyio.aclose_forcefully(stream)

    listener = TLSListener(
        await anyio.create_tcp_listener(local_host="127.0.0.1"), context, standard_compatible=close_notify
    )
    port = listener.listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield port
        group.cancel_scope.cancel()
