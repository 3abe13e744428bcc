"""What the documentation's excerpts take as given, for tests/test_docs.py.

An excerpt in README.md or docs/ shows the lines that matter and leaves out the rest: the imports
everyone has, the application's own check functions, the `health` an earlier paragraph built. Each
excerpt runs in a fresh copy of this module's names (`namespace()`), so those names exist, as
stand-ins that do nothing. A name an excerpt uses and nothing here gives fails the test: add it here
only when the page really takes it as given.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from healthkit import Check, Health, Probe, Result, Status, StatusChange, bearer_token

# The environment the excerpts read (os.environ[...]); set by tests/test_docs.py.
ENVIRONMENT = {
    "HEALTH_TOKEN": "docs-token-0123456789abcdef",
    "DATABASE_URL": "postgresql://app@127.0.0.1:1/app",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "SQLALCHEMY_URL": "postgresql+asyncpg://app@127.0.0.1:1/app",
    "MYSQL_URL": "mysql://app@127.0.0.1:1/app",
    "AMQP_URL": "amqp://app@127.0.0.1:1/",
    "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    "SMTP_PASSWORD": "docs-password",
}


# The application's own check functions, as the excerpts name them: each passes.
async def ping_db() -> None:
    return None


ping_redis = ping_search = ping_billing = loop_lag = migrations = ping_db


async def queue_depth() -> Result | None:
    return None


async def homepage(request: Request) -> PlainTextResponse:
    return PlainTextResponse("home")


class _Broker:
    async def depth(self) -> int:
        return 0


class _Database:
    @asynccontextmanager
    async def connect(self) -> AsyncIterator[None]:
        yield


class _Alerts:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> None:
        self.sent.append(text)


async def _refused() -> None:
    raise ConnectionRefusedError


def _checks() -> list[Check]:
    """A service's checks as the excerpts speak of them: a database that is down, and a cache."""
    return [Check("db", _refused), Check("cache", ping_redis, critical=False)]


def project(root: Path) -> None:
    """What the excerpts find in the application's directory (tests/test_docs.py runs them there):
    an alembic.ini beside its migration scripts (one revision), for ``alembic.applied(engine,
    "alembic.ini")``, which reads them when the check is made."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text("")
    (root / "migrations" / "script.py.mako").write_text("")
    (versions / "ae1027a6acf0_orders.py").write_text('revision = "ae1027a6acf0"\ndown_revision = None\n')
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")


def _engine() -> Any:
    """The application's SQLAlchemy engine: made without connecting."""
    from sqlalchemy import create_engine

    return create_engine("sqlite://")


def namespace() -> dict[str, Any]:
    """A fresh set of names for one excerpt (a `health` of its own, so no excerpt sees another's)."""
    checks = _checks()
    return {
        "__name__": "docs_example",
        "os": os,
        "Any": Any,
        "anyio": anyio,
        "pytest": pytest,
        "asynccontextmanager": asynccontextmanager,
        "Starlette": Starlette,
        "Route": Route,
        "Check": Check,
        "Health": Health,
        "Probe": Probe,
        "Result": Result,
        "Status": Status,
        "StatusChange": StatusChange,
        "bearer_token": bearer_token,
        "ping_db": ping_db,
        "ping_redis": ping_redis,
        "ping_search": ping_search,
        "ping_billing": ping_billing,
        "loop_lag": loop_lag,
        "migrations": migrations,
        "queue_depth": queue_depth,
        "homepage": homepage,
        "broker": _Broker(),
        "database": _Database(),
        "alerts": _Alerts(),
        "checks": checks,
        "health": Health(checks),
        "engine": _engine(),
        # OpenTelemetry's excerpt: the application's own providers (the SDK's).
        "tracer_provider": TracerProvider(),
        "meter_provider": MeterProvider(),
        # healthkit.testing's excerpt: the application's Health, with a startup check.
        "app_health": Health([Check("db", ping_db), Check("migrations", migrations, tags={"startup"})]),
    }


def for_module(module: str) -> dict[str, Any]:
    """Stand-ins for what a module's docstring example takes as given (`pool`, `client`, `engine`):
    the application's own objects, made without connecting to anything."""
    if module == "healthkit_checks.http":
        import httpx2

        return {"client": httpx2.AsyncClient()}
    if module == "healthkit_checks.redis":
        import redis.asyncio

        return {"client": redis.asyncio.Redis.from_url(ENVIRONMENT["REDIS_URL"])}
    if module == "healthkit_checks.postgres":
        import asyncpg

        return {"pool": asyncpg.create_pool(ENVIRONMENT["DATABASE_URL"])}  # not started: no connection
    if module in ("healthkit_checks.sqlalchemy", "healthkit_checks.alembic"):
        return {"engine": _engine()}
    if module == "healthkit_checks.mysql":
        import asyncio

        import aiomysql  # type: ignore[import-untyped]

        # An aiomysql Pool as create_pool makes it, before it opens any connection.
        loop = asyncio.get_running_loop()
        return {"pool": aiomysql.Pool(minsize=1, maxsize=10, echo=False, pool_recycle=-1, loop=loop)}
    if module == "healthkit_checks.rabbitmq":
        import aio_pika
        import yarl

        return {"connection": aio_pika.RobustConnection(yarl.URL(ENVIRONMENT["AMQP_URL"]))}  # not connected
    if module == "healthkit_checks.celery":
        from celery import Celery  # type: ignore[import-untyped]

        return {"app": Celery("orders", broker=ENVIRONMENT["CELERY_BROKER_URL"])}
    return {}
