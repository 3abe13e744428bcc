"""rabbitmq checks against a real RabbitMQ on loopback (tests/brokers.py, one node per session).

aio-pika runs on asyncio only, so these tests do too, but for the one that shows what happens on
trio.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import anyio
import anyio.abc
import pytest

from healthkit import Check, Health
from healthkit_checks import rabbitmq
from tests.brokers import RabbitMQ
from tests.checks.support import outage, outcome
from tests.conftest import probe
from tests.databases import PASSWORD

AnyCheck = Callable[[], Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def connection(rabbitmq_server: RabbitMQ) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    """The application's robust connection, as it would open it in its lifespan."""
    robust = await aio_pika.connect_robust(rabbitmq_server.url, reconnect_interval=0.5)
    yield robust
    await robust.close()


@pytest.fixture(params=["robust connection", "plain connection", "function", "url"])
async def rabbitmq_connect(
    request: pytest.FixtureRequest, rabbitmq_server: RabbitMQ
) -> AsyncIterator[AnyCheck]:
    """A check of the live broker through each kind of target the catalog takes."""
    if request.param == "url":
        yield rabbitmq.connect(rabbitmq_server.url)
        return
    if request.param == "plain connection":
        opened: aio_pika.abc.AbstractConnection = await aio_pika.connect(rabbitmq_server.url)
    else:
        opened = await aio_pika.connect_robust(rabbitmq_server.url)
    yield rabbitmq.connect(lambda: opened) if request.param == "function" else rabbitmq.connect(opened)
    await opened.close()


async def test_rabbitmq_passes_against_the_live_broker(rabbitmq_connect: AnyCheck) -> None:
    item = await outcome(Check("rabbitmq:responseTime", rabbitmq_connect, component_type="component"))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]
    assert float(item["observedValue"]) >= 0  # type: ignore[arg-type]


async def test_rabbitmq_going_away_fails_readiness_and_coming_back_passes(
    rabbitmq_server: RabbitMQ, connection: aio_pika.abc.AbstractRobustConnection
) -> None:
    async with connection.channel() as channel:
        await channel.declare_queue("jobs", durable=True)
    checks = [
        Check("robust connection", rabbitmq.connect(connection), timeout=0.5),
        Check("url", rabbitmq.connect(rabbitmq_server.url), timeout=0.5),
        Check("queue", rabbitmq.queue_depth(connection, "jobs"), timeout=0.5),
    ]

    await outage(rabbitmq_server, checks, {"connection lost", "connection refused"})


async def test_queue_depth_counts_waiting_messages_against_the_thresholds(
    connection: aio_pika.abc.AbstractRobustConnection,
) -> None:
    channel = await connection.channel()
    queue = await channel.declare_queue("", exclusive=False, auto_delete=False)
    try:
        depth = Check("orders:messages", rabbitmq.queue_depth(connection, queue.name, warn_at=2, fail_at=4))
        empty = await outcome(depth)
        for body in (b"1", b"2"):
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        two = await outcome(depth)
        for body in (b"3", b"4"):
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        four = await outcome(depth)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await channel.close()

    assert ("pass", 0, "messages") == (empty["status"], empty["observedValue"], empty["observedUnit"])
    assert ("warn", 2) == (two["status"], two["observedValue"])
    assert f"queue {queue.name!r} holds 2 messages, at or above 2" == two["output"]
    assert ("fail", 4) == (four["status"], four["observedValue"])
    assert f"queue {queue.name!r} holds 4 messages, at or above 4" == four["output"]


async def test_a_missing_queue_fails_plainly_and_leaves_the_application_channels_open(
    connection: aio_pika.abc.AbstractRobustConnection, rabbitmq_server: RabbitMQ
) -> None:
    channel = await connection.channel()
    try:
        through_app = await outcome(Check("q", rabbitmq.queue_depth(connection, "no-such-queue")))
        through_url = await outcome(Check("q", rabbitmq.queue_depth(rabbitmq_server.url, "no-such-queue")))
        after = await outcome(Check("q", rabbitmq.connect(connection)))

        assert not channel.is_closed
        assert not connection.is_closed
    finally:
        await channel.close()

    assert ("fail", "rabbitmq: the queue 'no-such-queue' does not exist") == (
        through_app["status"],
        through_app["output"],
    )
    where = f"127.0.0.1:{rabbitmq_server.port}"
    assert f"rabbitmq at {where}: the queue 'no-such-queue' does not exist" == through_url["output"]
    assert "pass" == after["status"]


async def test_rabbitmq_failures_are_named_without_credentials(rabbitmq_server: RabbitMQ) -> None:
    where = f"127.0.0.1:{rabbitmq_server.port}"
    checks = [
        Check(
            "password",
            rabbitmq.connect(rabbitmq_server.url.replace(PASSWORD, "not-the-" + PASSWORD)),
            timeout=2,
        ),
        Check("vhost", rabbitmq.connect(rabbitmq_server.url + "no-such-vhost"), timeout=2),
        Check("port", rabbitmq.connect(f"amqp://healthkit:{PASSWORD}@127.0.0.1:1/"), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    assert {
        "password": f"rabbitmq at {where}: authentication failed",
        "vhost": f"rabbitmq at {where}/no-such-vhost: the broker refused the connection "
        "(the virtual host, or the user's access to it)",
        "port": "rabbitmq at 127.0.0.1:1: connection refused",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert PASSWORD not in str(body)
    assert rabbitmq_server.user not in str(body)


async def test_a_broker_that_never_answers_fails_at_the_check_timeout() -> None:
    """A listener that accepts and says nothing: the AMQP handshake never ends, the timeout does."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, silent)
        check = Check("rabbitmq", rabbitmq.connect(f"amqp://app:{PASSWORD}@127.0.0.1:{port}/"), timeout=0.3)
        started = anyio.current_time()
        item = await outcome(check)
        elapsed = anyio.current_time() - started
        group.cancel_scope.cancel()

    assert ("fail", "timed out after 0.3s") == (item["status"], item["output"])
    assert elapsed < 0.3 + 0.3


async def test_a_closed_application_connection_is_named(rabbitmq_server: RabbitMQ) -> None:
    opened = await aio_pika.connect(rabbitmq_server.url)
    await opened.close()

    item = await outcome(Check("rabbitmq", rabbitmq.connect(opened)))

    assert ("fail", "rabbitmq: the connection is closed") == (item["status"], item["output"])


async def test_a_connection_function_that_fails_is_a_plain_fail() -> None:
    state: dict[str, Any] = {}

    missing = await outcome(Check("rabbitmq", rabbitmq.connect(lambda: state["amqp"])))
    wrong = await outcome(Check("rabbitmq", rabbitmq.queue_depth(lambda: "amqp://broker/", "orders")))

    assert "rabbitmq.connect: the connection is not available (KeyError from the function given)" == str(
        missing["output"]
    )
    assert (
        "rabbitmq.queue_depth: expected an aio-pika connection, a function that returns one, or an amqp:// "
        "URL, got str from the function given" == wrong["output"]
    )


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_rabbitmq_fails_plainly_on_trio(rabbitmq_server: RabbitMQ) -> None:
    checks = [
        Check("connect", rabbitmq.connect(rabbitmq_server.url)),
        Check("depth", rabbitmq.queue_depth(rabbitmq_server.url, "orders")),
    ]

    code, body = await probe(Health(checks))

    assert 503 == code
    assert {
        "connect": "rabbitmq.connect runs on asyncio only, not on this event loop",
        "depth": "rabbitmq.queue_depth runs on asyncio only, not on this event loop",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}


async def test_factories_refuse_what_they_cannot_check(
    connection: aio_pika.abc.AbstractRobustConnection,
) -> None:
    with pytest.raises(ValueError, match="not an amqp:// or amqps:// URL") as caught:
        rabbitmq.connect(f"redis://:{PASSWORD}@cache/0")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(ValueError, match="URL") as caught:
        rabbitmq.connect(f"amqp://app:abc/{PASSWORD}@broker:5672/")
    assert PASSWORD not in str(caught.value)
    channel = await connection.channel()
    try:
        with pytest.raises(TypeError, match="got a channel: pass its connection"):
            rabbitmq.queue_depth(channel, "orders")
    finally:
        await channel.close()
    with pytest.raises(TypeError, match=r"expected an aio-pika connection, .* got int"):
        rabbitmq.connect(5672)
    with pytest.raises(ValueError, match="queue must be a queue's name"):
        rabbitmq.queue_depth(connection, "")
    with pytest.raises(ValueError, match="warn_at"):
        rabbitmq.queue_depth(connection, "orders", warn_at=100, fail_at=10)


def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aio_pika", None)

    with pytest.raises(ImportError, match=r"pip install 'healthkit-asgi\[rabbitmq\]'"):
        rabbitmq.connect("amqp://broker/")
