"""SQLAlchemy: the application's engine answers a query on one of its pooled connections.

    Check("db:responseTime", sqlalchemy.connect(engine), component_type="datastore")

``engine`` is the application's own ``AsyncEngine`` (the check is async; asyncio only, as
SQLAlchemy's asyncio extension is) or ``Engine`` (the check is a plain function, run in a worker
thread, on any event loop). The engine's URL is named without user or password. Needs the
``sqlalchemy`` extra, and the engine's own driver.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from healthkit import Result, Status

from ._drivers import driver, failure, not_on_asyncio, round_trip
from ._levels import judge, require_levels

__all__ = ["connect"]


def connect(
    engine: Any, sql: str = "SELECT 1", *, warn_at: float | None = None, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]] | Callable[[], Result]:
    """A check that borrows a connection from ``engine``'s pool and runs ``sql``.

    Reports the round trip (``responseTime`` in ms; ``warn_at``/``fail_at`` in ms). Fails,
    saying why in plain words: ``connection refused``, ``connection lost``, ``authentication
    failed``, ``the query failed (SQLSTATE 42P01)``, ...
    """
    require_levels("sqlalchemy.connect", warn_at, fail_at)
    if not isinstance(sql, str) or not sql.strip():
        msg = f"sqlalchemy.connect: sql must be a non-empty string, got {sql!r}"
        raise ValueError(msg)
    module = driver("sqlalchemy", "healthkit_checks.sqlalchemy", "sqlalchemy")
    statement = module.text(sql)
    if isinstance(engine, module.Engine):
        if engine.dialect.is_async:
            msg = "sqlalchemy.connect: this Engine is an AsyncEngine's sync_engine: pass the AsyncEngine"
            raise TypeError(msg)
        label = _label(engine.url)

        def sqlalchemy_connect() -> Result:
            started = time.perf_counter()
            try:
                with engine.connect() as connection:
                    connection.execute(statement).fetchall()
            except Exception as exc:
                return Result(Status.FAIL, output=f"{label}: {failure(exc)}")
            elapsed_ms = (time.perf_counter() - started) * 1000
            return judge(elapsed_ms, "ms", warn_at=warn_at, fail_at=fail_at, what="the query took")

        return sqlalchemy_connect

    asyncio_extension = driver("sqlalchemy.ext.asyncio", "healthkit_checks.sqlalchemy", "sqlalchemy")
    if not isinstance(engine, asyncio_extension.AsyncEngine):
        msg = f"sqlalchemy.connect: expected an sqlalchemy Engine or AsyncEngine, got {type(engine).__name__}"
        raise TypeError(msg)
    label = _label(engine.url)

    async def run() -> None:
        async with engine.connect() as connection:
            (await connection.execute(statement)).fetchall()

    async def sqlalchemy_connect_async() -> Result:
        refused = not_on_asyncio("sqlalchemy.connect with an AsyncEngine")
        if refused is not None:
            return refused
        return await round_trip(
            run, label, warn_at=warn_at, fail_at=fail_at, what="the query took", why=failure
        )

    return sqlalchemy_connect_async


def _label(url: Any) -> str:
    """``backend at host:port/database`` (for SQLite: the file's name): no user, no password."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        name = (url.database or ":memory:").replace("\\", "/").rsplit("/", 1)[-1]
        return f"sqlite {name}"
    host = url.host or "localhost"
    shown = f"{host}:{url.port}" if url.port else host
    return f"{backend} at {shown}/{url.database}" if url.database else f"{backend} at {shown}"
