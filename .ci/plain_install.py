"""Run by .ci/run in a venv holding a plain install (the declared dependencies only, no extras).

It imports and serves a probe; using a catalog module without its driver names the extra that installs it.
"""

import asyncio

import healthkit_checks.tcp  # noqa: F401  (a catalog module without a driver)
from healthkit import Check, Health
from healthkit_checks import http, postgres, redis, sqlalchemy

# Modules with drivers import; using one without its driver names the extra that installs it.
for make, extra in [
    (lambda: http.get("http://billing/health"), "http"),
    (lambda: postgres.query("postgresql://db/app"), "postgres"),
    (lambda: redis.ping("redis://cache"), "redis"),
    (lambda: sqlalchemy.connect(None), "sqlalchemy"),
]:
    try:
        make()
    except ImportError as exc:
        if f"healthkit-asgi[{extra}]" not in str(exc):
            raise
    else:
        message = f"no ImportError without the {extra} extra"
        raise AssertionError(message)


async def main() -> None:
    async def ok() -> None:
        return None

    sent = []

    async def receive() -> dict:
        return {"type": "http.request"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await Health([Check("db", ok)])(scope, receive, send)
    assert sent[0]["status"] == 200, sent


asyncio.run(main())
print("plain install: imports and answers without the extras")
