"""celery checks against a real `celery worker` process, its broker a real Redis (tests/brokers.py,
tests/databases.py; one of each per session), and a real RabbitMQ without workers.

Celery's client blocks, so the check is a plain function that healthkit runs in its own worker
threads: it works on asyncio and trio alike, and these tests run on both.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import pytest
from celery import Celery  # type: ignore[import-untyped]
from starlette.applications import Starlette

from healthkit import Check, Health
from healthkit_checks import celery as celery_check
from tests.brokers import CeleryWorker, RabbitMQ
from tests.checks.support import outage, outcome
from tests.conftest import probe
from tests.databases import PASSWORD, Redis


@pytest.fixture
def app(celery_worker: CeleryWorker) -> Iterator[Celery]:
    """The application's own Celery app, its broker the worker's."""
    application = Celery("orders", broker=celery_worker.broker, set_as_current=False)
    yield application
    application.close()


@pytest.fixture(params=["app", "url"])
def target(request: pytest.FixtureRequest, app: Celery, celery_worker: CeleryWorker) -> Any:
    return app if request.param == "app" else celery_worker.broker


async def test_celery_passes_as_soon_as_enough_workers_answer(target: Any) -> None:
    check = Check("celery:workers", celery_check.ping(target, timeout=3), timeout=4)

    started = anyio.current_time()
    item = await outcome(check)
    elapsed = anyio.current_time() - started

    assert ("pass", 1, "workers") == (item["status"], item["observedValue"], item["observedUnit"])
    assert elapsed < 2, "it stops listening when enough workers answered, not at its timeout"


async def test_fewer_workers_than_required_fail_naming_how_many_answered(target: Any) -> None:
    # The check's timeout and the deadline leave room for a loaded machine: what is asserted is that the
    # ping gives up at its own 0.3 s, well before the check's 3 s.
    check = Check("celery:workers", celery_check.ping(target, min_workers=2, timeout=0.3), timeout=3)

    started = anyio.current_time()
    _code, body = await probe(Health([check], deadline=4))
    elapsed = anyio.current_time() - started
    item = body["checks"]["celery:workers"][0]

    assert ("fail", 1, "workers") == (item["status"], item["observedValue"], item["observedUnit"])
    assert "1 of 2 required workers answered within 0.3s" == item["output"]
    assert elapsed < 2, "it stops listening at its timeout, not the check's"


async def test_a_broker_without_workers_fails_with_none_answering(
    celery_worker: CeleryWorker, rabbitmq_server: RabbitMQ
) -> None:
    lonely_redis = celery_worker.broker.rsplit("/", 1)[0] + "/2"  # fanout is per database
    checks = [
        Check("redis", celery_check.ping(lonely_redis, timeout=0.2), timeout=1),
        Check("rabbitmq", celery_check.ping(rabbitmq_server.url, timeout=0.2), timeout=1),
    ]

    _code, body = await probe(Health(checks))

    assert {
        "redis": "0 of 1 required workers answered within 0.2s",
        "rabbitmq": "0 of 1 required workers answered within 0.2s",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the outage is the same on trio; once is enough
async def test_celery_broker_going_away_fails_readiness_and_coming_back_passes(
    app: Celery, redis_server: Redis, celery_worker: CeleryWorker
) -> None:
    check = Check("celery:workers", celery_check.ping(app, timeout=0.3), timeout=0.5)

    # The worker reconnects on its own, after kombu's back-off (2 s, then 4 s).
    await outage(redis_server, [check], {"connection refused", "connection lost"}, back_within=20)


async def test_celery_failures_are_named_without_credentials(
    celery_worker: CeleryWorker, rabbitmq_server: RabbitMQ, redis_server: Redis
) -> None:
    amqp = f"127.0.0.1:{rabbitmq_server.port}"
    wrong = "not-the-" + PASSWORD
    checks = [
        Check("redis password", celery_check.ping(celery_worker.broker.replace(PASSWORD, wrong)), timeout=2),
        Check("amqp password", celery_check.ping(rabbitmq_server.url.replace(PASSWORD, wrong)), timeout=2),
        Check("amqp vhost", celery_check.ping(rabbitmq_server.url + "no-such-vhost"), timeout=2),
        Check("refused", celery_check.ping(f"redis://:{PASSWORD}@127.0.0.1:1/0"), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    assert {
        "redis password": f"celery broker at 127.0.0.1:{redis_server.port}/1: authentication failed",
        "amqp password": f"celery broker at {amqp}: authentication failed",
        "amqp vhost": f"celery broker at {amqp}/no-such-vhost: the broker refused the connection "
        "(the virtual host, or the user's access to it)",
        "refused": "celery broker at 127.0.0.1:1/0: connection refused",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert PASSWORD not in str(body)


async def test_a_broker_that_never_answers_fails_within_the_ping_timeout() -> None:
    """A listener that accepts and says nothing: neither the connection's nor the reply's wait
    holds the check's thread past its own timeout (redis-py would wait forever)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, silent)
        redis = celery_check.ping(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", timeout=0.3)
        amqp = celery_check.ping(f"amqp://app:{PASSWORD}@127.0.0.1:{port}//", timeout=0.3)
        checks = [Check("redis", redis, timeout=2), Check("amqp", amqp, timeout=2)]
        started = anyio.current_time()
        _code, body = await probe(Health(checks))
        elapsed = anyio.current_time() - started
        group.cancel_scope.cancel()

    assert {
        "redis": f"celery broker at 127.0.0.1:{port}/0: timed out",
        "amqp": f"celery broker at 127.0.0.1:{port}: timed out",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert elapsed < 2, "the check ended by itself, not at the Check's timeout"


async def test_the_event_loop_runs_while_the_ping_waits(celery_worker: CeleryWorker) -> None:
    """The blocking ping runs in a worker thread: a probe of /livez is answered while a probe of
    /readyz still waits for workers that do not exist."""
    lonely_redis = celery_worker.broker.rsplit("/", 1)[0] + "/2"
    health = Health([Check("celery", celery_check.ping(lonely_redis, timeout=1), timeout=2)])
    app = Starlette(routes=health.routes())
    order: list[str] = []

    async def ready() -> None:
        await probe(app, path="/readyz")
        order.append("readyz")

    async with anyio.create_task_group() as group:
        group.start_soon(ready)
        await anyio.wait_all_tasks_blocked()
        await probe(app, path="/livez")
        order.append("livez")

    assert ["livez", "readyz"] == order


async def test_a_ping_longer_than_the_check_timeout_is_cut_at_the_check_timeout(
    celery_worker: CeleryWorker,
) -> None:
    lonely_redis = celery_worker.broker.rsplit("/", 1)[0] + "/2"
    check = Check("celery", celery_check.ping(lonely_redis, timeout=1), timeout=0.3)

    item = await outcome(check)

    assert ("fail", "timed out after 0.3s") == (item["status"], item["output"])


def test_the_factory_refuses_what_it_cannot_check() -> None:
    with pytest.raises(ValueError, match="not a broker URL Celery knows") as caught:
        celery_check.ping(f"postgresql://app:{PASSWORD}@db/app")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(ValueError, match="URL") as caught:
        celery_check.ping(f"redis://app:abc/{PASSWORD}@cache:6379/0")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(TypeError, match=r"expected a Celery app or a broker URL \(redis://, .*\), got dict"):
        celery_check.ping({"broker_url": "redis://cache"})
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="min_workers must be a whole number of at least 1"):
            celery_check.ping("redis://cache", min_workers=bad)  # type: ignore[arg-type]
    for bad_timeout in (0, -1, float("inf"), "1s"):
        with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
            celery_check.ping("redis://cache", timeout=bad_timeout)  # type: ignore[arg-type]


def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "celery", None)

    with pytest.raises(ImportError, match=r"pip install 'healthkit-asgi\[celery\]'"):
        celery_check.ping("redis://cache")
