"""Helpers for the catalog's tests: one check's outcome, a TLS server on loopback."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.tls import TLSListener

from healthkit import Check, Health
from tests.conftest import probe


async def outcome(check: Check) -> dict[str, object]:
    """The check's entry in the document of a Health that runs it alone."""
    _code, body = await probe(Health([check]))
    item: dict[str, object] = body["checks"][check.name][0]
    return item


@asynccontextmanager
async def tls_server(cert: Path, key: Path) -> AsyncIterator[int]:
    """A TLS server on a free loopback port, with the given certificate; yields the port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(stream: anyio.abc.ByteStream) -> None:
        with contextlib.suppress(Exception):
            await stream.receive()
        with contextlib.suppress(Exception):
            await stream.aclose()

    listener = TLSListener(await anyio.create_tcp_listener(local_host="127.0.0.1"), context)
    port = listener.listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield port
        group.cancel_scope.cancel()
