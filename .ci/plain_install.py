"""Run by .ci/run in a venv holding a plain install (the declared dependencies only, no extras).

It imports and serves probes; using a catalog module without its driver names the extra that installs it.
.ci/run runs it with the newest versions and with starlette, anyio and orjson at their floors: the test
suite itself needs a newer anyio (its dependency group `test`), so this is where the library's own anyio
floor runs.
"""

import asyncio
import importlib
import threading
import time
from importlib import metadata

import healthkit
import healthkit_checks.tcp  # noqa: F401  (a catalog module without a driver)
from healthkit import Check, Health
from healthkit_checks import (
    alembic,
    celery,
    http,
    memcached,
    mysql,
    postgres,
    rabbitmq,
    redis,
    smtp,
    sqlalchemy,
)

# Modules with drivers import; using one without its driver names the extra that installs it.
for make, extra in [
    (lambda: http.get("http://billing/health"), "http"),
    (lambda: postgres.query("postgresql://db/app"), "postgres"),
    (lambda: redis.ping("redis://cache"), "redis"),
    (lambda: sqlalchemy.connect(None), "sqlalchemy"),
    (lambda: mysql.query("mysql://db/app"), "mysql"),
    (lambda: smtp.ping("smtp://mail"), "smtp"),
    (lambda: rabbitmq.connect("amqp://broker/"), "rabbitmq"),
    (lambda: celery.ping("redis://broker/0"), "celery"),
    (lambda: alembic.applied("postgresql://db/app"), "alembic"),
    # healthkit.prometheus and healthkit.otel without their libraries name their extras too.
    (lambda: importlib.import_module("healthkit.prometheus"), "prometheus"),
    (lambda: importlib.import_module("healthkit.otel"), "otel"),
    # The gRPC health service, and the catalog's gRPC check, without grpcio.
    (lambda: importlib.import_module("healthkit.grpc"), "grpc"),
    (lambda: importlib.import_module("healthkit_checks.grpc").check("billing:50051"), "grpc"),
]:
    try:
        make()
    except ImportError as exc:
        if f"healthkit-asgi[{extra}]" not in str(exc):
            raise
    else:
        message = f"no ImportError without the {extra} extra"
        raise AssertionError(message)
assert callable(memcached.ping("memcached://cache:11211")), "memcached needs no driver"


async def probe(health: Health) -> int:
    sent = []

    async def receive() -> dict:
        return {"type": "http.request"}

    async def send(message: dict) -> None:
        sent.append(message)

    await health({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)
    return sent[0]["status"]


async def main() -> None:
    async def ok() -> None:
        return None

    assert await probe(Health([Check("db", ok)])) == 200

    # A sync check runs in a worker thread. Past its timeout the probe answers without it; when the
    # thread ends at last, it hands its end back to the event loop, and a probe passes again.
    gate = threading.Event()

    def legacy() -> None:
        gate.wait(10)

    hung = Health([Check("legacy", legacy, timeout=0.1)])
    assert await probe(hung) == 503
    gate.set()
    deadline = time.monotonic() + 4
    while (status := await probe(hung)) != 200:
        assert time.monotonic() < deadline, f"still {status} after the check's thread ended"
        await asyncio.sleep(0.01)


asyncio.run(main())
assert metadata.version("healthkit-asgi") == healthkit.__version__, healthkit.__version__
print(f"plain install: healthkit {healthkit.__version__} imports and answers without the extras")
