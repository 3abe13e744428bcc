"""The memcached check against real memcached servers on loopback (tests/checks/daemons.py): one
open, one that asks for a login. The check needs no driver and runs on asyncio and trio."""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiomcache
import anyio
import anyio.abc
import anyio.to_thread
import pytest

from healthkit import Check, Health
from healthkit_checks import memcached
from tests.checks.daemons import USER, Memcached, memcached_server
from tests.checks.support import outage, outcome
from tests.conftest import probe
from tests.databases import PASSWORD

AnyCheck = Callable[[], Any]


@pytest.fixture(scope="session")
def memcached_servers() -> Iterator[Memcached]:
    """The memcached servers for the session; a test that stops them starts them again."""
    with memcached_server() as server:
        yield server


@pytest.fixture(params=["url", "host:port", "login", "aiomcache client", "TLS", "aiomcache client with TLS"])
async def memcached_ping(
    request: pytest.FixtureRequest, memcached_servers: Memcached
) -> AsyncIterator[AnyCheck]:
    """A check of a live memcached through each kind of target the check takes."""
    if request.param == "url":
        yield memcached.ping(memcached_servers.url)
    elif request.param == "host:port":
        yield memcached.ping(f"127.0.0.1:{memcached_servers.port}")
    elif request.param == "login":
        yield memcached.ping(memcached_servers.login_url)
    elif request.param == "TLS":
        yield memcached.ping(f"127.0.0.1:{memcached_servers.tls_port}", context=trusting(memcached_servers))
    else:
        if request.param == "aiomcache client":
            client = aiomcache.Client("127.0.0.1", memcached_servers.port)
        else:
            tls = {"ssl": trusting(memcached_servers)}
            client = aiomcache.Client("127.0.0.1", memcached_servers.tls_port, conn_args=tls)
        yield memcached.ping(client)
        await client.close()


def trusting(server: Memcached) -> ssl.SSLContext:
    """A context that trusts the test server's self-signed certificate."""
    return ssl.create_default_context(cafile=str(server.certificate))


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_memcached_passes_against_the_live_server_on_either_loop(memcached_ping: AnyCheck) -> None:
    item = await outcome(Check("memcached:responseTime", memcached_ping, component_type="datastore"))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]
    assert float(item["observedValue"]) >= 0  # type: ignore[arg-type]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_memcached_going_away_fails_readiness_and_coming_back_passes(
    memcached_servers: Memcached,
) -> None:
    check = memcached.ping(memcached_servers.login_url)

    await outage(
        memcached_servers, [Check("memcached:responseTime", check, timeout=0.5)], {"connection refused"}
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_hung_memcached_times_out_and_leaves_the_application_client_in_step(
    memcached_servers: Memcached,
) -> None:
    """The server stops answering: the check fails at its timeout. The application's aiomcache
    client, which the check was given, still reads its own answers afterwards: the check never
    borrowed its connections (a command cancelled on one would leave its answer for the next)."""
    client = aiomcache.Client("127.0.0.1", memcached_servers.port, pool_size=1)
    check = Check("memcached", memcached.ping(client), timeout=0.5)
    try:
        await client.set(b"greeting", b"hello")
        memcached_servers.pause()
        try:
            started = anyio.current_time()
            hung = await outcome(check)
            elapsed = anyio.current_time() - started
        finally:
            memcached_servers.resume()
        value = await client.get(b"greeting")
        again = await outcome(check)
    finally:
        await client.close()

    assert ("fail", "timed out after 0.5s") == (hung["status"], hung["output"])
    assert elapsed < 0.5 + 0.3
    assert b"hello" == value
    assert "pass" == again["status"]


async def test_memcached_failures_are_named_without_the_password(
    memcached_servers: Memcached, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = memcached_servers.login_url.replace(PASSWORD, "not-the-" + PASSWORD)
    checks = [
        Check("wrong", memcached.ping(wrong), timeout=2),
        Check("none", memcached.ping(f"127.0.0.1:{memcached_servers.login_port}"), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    where = f"memcached at 127.0.0.1:{memcached_servers.login_port}"
    assert {
        "wrong": f"{where}: authentication failed",
        "none": f"{where}: the server asks for a login",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert PASSWORD not in str(body) + caplog.text
    assert USER not in str(body) + caplog.text


async def test_memcached_tls_failures_are_named(memcached_servers: Memcached) -> None:
    tls, plain = f"127.0.0.1:{memcached_servers.tls_port}", f"127.0.0.1:{memcached_servers.port}"
    checks = [
        Check("untrusted", memcached.ping(tls, context=ssl.create_default_context()), timeout=2),
        Check("no TLS", memcached.ping(tls), timeout=2),
        Check("TLS to a plain server", memcached.ping(plain, context=trusting(memcached_servers)), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    assert {
        "untrusted": f"memcached at {tls}: TLS certificate rejected (self-signed certificate)",
        "no TLS": f"memcached at {tls}: connection lost",
        "TLS to a plain server": f"memcached at {plain}: TLS handshake failed",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}


@asynccontextmanager
async def answering(answer: bytes) -> AsyncIterator[int]:
    """A server on a free loopback port that answers every command line with `answer`."""

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                while await stream.receive():
                    await stream.send(answer)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        group.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("answer", "meaning"),
    [
        (b"SERVER_ERROR out of memory\r\n", "the server answered with an error"),
        (b"ERROR\r\n", "the server does not know the command (is it memcached?)"),
        (b"-ERR unknown command 'version'\r\n", "unexpected answer (is it memcached?)"),
        (b"x" * 2000, "unexpected answer (is it memcached?)"),
    ],
)
async def test_answers_that_are_not_a_version_are_named_without_their_text(
    answer: bytes, meaning: str
) -> None:
    async with answering(answer) as port:
        item = await outcome(Check("memcached", memcached.ping(f"127.0.0.1:{port}"), timeout=2))

    assert ("fail", f"memcached at 127.0.0.1:{port}: {meaning}") == (item["status"], item["output"])


def test_memcached_refuses_what_it_cannot_check() -> None:
    with pytest.raises(ValueError, match="not a memcached:// URL") as refused:
        memcached.ping(f"redis://:{PASSWORD}@cache:6379")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match="must be host:port, with no path or options"):
        memcached.ping("memcached://cache:11211/0?timeout=1")
    with pytest.raises(ValueError, match="a login needs a user and a password") as refused:
        memcached.ping(f"memcached://{PASSWORD}@cache:11211")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match="the URL cannot be read") as refused:
        memcached.ping(f"memcached://app:{PASSWORD}@cache:port")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(
        TypeError, match="expected 'host:port', a memcached:// URL or an aiomcache Client, got int"
    ):
        memcached.ping(11211)
    with pytest.raises(ValueError, match="brings its own TLS settings: leave context unset"):
        memcached.ping(
            aiomcache.Client("cache", conn_args={"ssl": True}), context=ssl.create_default_context()
        )
    with pytest.raises(TypeError, match=r"context must be an ssl\.SSLContext or None, got bool"):
        memcached.ping("cache:11211", context=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="warn_at"):
        memcached.ping("cache:11211", warn_at=100, fail_at=10)


def test_memcached_needs_no_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiomcache", None)

    assert callable(memcached.ping("memcached://cache"))
