"""PostgreSQL: the application's pool answers a query, and how full the pool is.

    Check("postgres:responseTime", postgres.query(pool), component_type="datastore")
    Check("postgres:connections", postgres.pool_usage(pool, warn_at=80), component_type="datastore")

``pool`` is the application's own asyncpg ``Pool`` or psycopg ``AsyncConnectionPool``: a probe
borrows one of its connections instead of opening one. A DSN works too (one connection per call,
asyncpg, else psycopg); its user and password never appear in outputs. Needs the ``postgres``
extra (asyncpg) or the ``psycopg`` extra. Both drivers run on asyncio only.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from healthkit import Result, Status

from ._drivers import driver, failure, not_on_asyncio, round_trip, where
from ._levels import require_levels

__all__ = ["pool_usage", "query"]

WHAT = "expected an asyncpg Pool, a psycopg_pool AsyncConnectionPool or a postgresql:// DSN"


def query(
    target: Any, sql: str = "SELECT 1", *, warn_at: float | None = None, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]]:
    """A check that runs ``sql`` on a connection from ``target`` (a pool, or a DSN).

    Reports the round trip, borrowing the connection included (``responseTime`` in ms;
    ``warn_at``/``fail_at`` in ms). Fails, saying why in plain words: ``connection refused``,
    ``connection lost``, ``authentication failed``, ``the query failed (SQLSTATE 42P01)``, ...
    A pool with no free connection keeps the check waiting until its timeout.

    ``target`` may also be a function that returns the pool, called at each check: for a pool
    made in the application's lifespan, ``postgres.query(lambda: app.state.pool)``.
    """
    require_levels("postgres.query", warn_at, fail_at)
    if not isinstance(sql, str) or not sql.strip():
        msg = f"postgres.query: sql must be a non-empty string, got {sql!r}"
        raise ValueError(msg)
    resolve = _resolver(target, "postgres.query")
    label = f"postgres at {where(target, 'postgres.query')}" if isinstance(target, str) else "postgres"

    async def postgres_query() -> Result:
        refused = not_on_asyncio("postgres.query")
        if refused is not None:
            return refused
        try:
            kind, pool = resolve()
        except (LookupError, TypeError, ValueError, ImportError) as exc:
            return Result(Status.FAIL, output=str(exc))
        return await round_trip(
            lambda: RUNS[kind](pool, sql),
            label,
            warn_at=warn_at,
            fail_at=fail_at,
            what="the query took",
            why=failure,
        )

    return postgres_query


def pool_usage(
    pool: Any, *, warn_at: float | None = 80, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]]:
    """A check of how many of the pool's connections are in use (``connections``).

    ``warn_at``/``fail_at`` are percentages of the pool's maximum size: a pool in use at 80 %
    or more warns by default. With psycopg, requests waiting for a connection are named too, and
    connections the pool is still opening count as in use (psycopg counts them together): while
    the server is down and the pool reconnects, the pool reads as full.
    Reads the pool's counters only: no query, no connection borrowed. Like ``query``, takes a
    function that returns the pool.
    """
    require_levels("postgres.pool_usage", warn_at, fail_at)
    if isinstance(pool, str):
        msg = "postgres.pool_usage: expected an asyncpg Pool or a psycopg_pool AsyncConnectionPool, got a DSN"
        raise TypeError(msg)
    resolve = _resolver(pool, "postgres.pool_usage")

    async def postgres_pool_usage() -> Result:
        try:
            kind, pool = resolve()
        except (LookupError, TypeError, ValueError, ImportError) as exc:
            return Result(Status.FAIL, output=str(exc))
        if kind.startswith("dsn"):
            return Result(Status.FAIL, output="postgres.pool_usage: expected a pool, got a DSN")
        if pool.is_closing() if kind == "asyncpg" else pool.closed:
            return Result(Status.FAIL, output="the pool is closed")
        if kind == "asyncpg":
            in_use, size, waiting = pool.get_size() - pool.get_idle_size(), pool.get_max_size(), 0
        else:
            stats = pool.get_stats()
            in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
            size, waiting = pool.max_size, stats.get("requests_waiting", 0)
        percent = 100.0 * in_use / size if size else 100.0
        queued = f", {waiting} waiting" if waiting else ""
        for status, level in ((Status.FAIL, fail_at), (Status.WARN, warn_at)):
            if level is not None and percent >= level:
                used = f"{in_use} of {size} connections in use ({percent:.0f}%){queued}"
                output = f"{used}, at or above {level}%"
                return Result(status, output=output, observed_value=in_use, observed_unit="connections")
        return Result(Status.PASS, observed_value=in_use, observed_unit="connections")

    return postgres_pool_usage


def _resolver(target: Any, check: str) -> Callable[[], tuple[str, Any]]:
    """What a check calls to get (kind, pool): fixed now, or asked of a function at each call."""
    if not isinstance(target, str) and _pool_kind(target) is None and callable(target):
        getter: Callable[[], Any] = target

        def resolve() -> tuple[str, Any]:
            try:
                pool = getter()
            except Exception as exc:
                msg = f"{check}: the pool is not available ({type(exc).__name__} from the function given)"
                raise LookupError(msg) from None
            return _kind(pool, check), pool

        return resolve
    kind = _kind(target, check)
    return lambda: (kind, target)


def _pool_kind(target: Any) -> str | None:
    """ "asyncpg" or "psycopg" for a pool of theirs (subclasses too), else None. A pool's driver is
    imported already, so this imports nothing."""
    asyncpg_pool = sys.modules.get("asyncpg.pool")
    if asyncpg_pool is not None and isinstance(target, asyncpg_pool.Pool):
        return "asyncpg"
    psycopg_pool = sys.modules.get("psycopg_pool")
    if psycopg_pool is not None and isinstance(target, psycopg_pool.AsyncConnectionPool):
        return "psycopg"
    return None


def _kind(target: Any, check: str) -> str:
    if isinstance(target, str):
        if not target.startswith(("postgres://", "postgresql://")):
            msg = f"{check}: {WHAT}, got a string that is not a postgresql:// DSN"
            raise ValueError(msg)
        where(target, check)
        try:
            driver("asyncpg", check, "postgres")
        except ImportError:
            try:
                driver("psycopg", check, "psycopg")
            except ImportError:
                msg = f"{check} needs asyncpg or psycopg: pip install 'healthkit-asgi[postgres]'"
                raise ImportError(msg) from None
            return "dsn-psycopg"
        return "dsn-asyncpg"
    kind = _pool_kind(target)
    if kind is not None:
        return kind
    module = type(target).__module__.split(".")[0]
    hint = " (for an SQLAlchemy engine, use healthkit_checks.sqlalchemy)" if module == "sqlalchemy" else ""
    msg = f"{check}: {WHAT}, got {type(target).__name__}{hint}"
    raise TypeError(msg)


async def _asyncpg_pool(pool: Any, sql: str) -> None:
    async with pool.acquire() as connection:
        await connection.fetchval(sql)


async def _psycopg_pool(pool: Any, sql: str) -> None:
    async with pool.connection() as connection:
        await connection.execute(sql)


async def _asyncpg_dsn(dsn: str, sql: str) -> None:
    asyncpg = driver("asyncpg", "postgres.query", "postgres")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.fetchval(sql)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            await connection.close()
        if not connection.is_closed():
            connection.terminate()


async def _psycopg_dsn(dsn: str, sql: str) -> None:
    psycopg = driver("psycopg", "postgres.query", "psycopg")
    connection = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        await connection.execute(sql)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            await connection.close()


RUNS: dict[str, Callable[[Any, str], Awaitable[None]]] = {
    "asyncpg": _asyncpg_pool,
    "psycopg": _psycopg_pool,
    "dsn-asyncpg": _asyncpg_dsn,
    "dsn-psycopg": _psycopg_dsn,
}
