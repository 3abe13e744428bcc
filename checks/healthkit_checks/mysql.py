"""MySQL and MariaDB: the application's pool answers a query.

    Check("mysql:responseTime", mysql.query(pool), component_type="datastore")

``pool`` is the application's own aiomysql ``Pool``: a probe borrows one of its connections
instead of opening one. A ``mysql://`` (or ``mariadb://``) DSN works too (one connection per
call); its user and password never appear in outputs. Needs the ``mysql`` extra; aiomysql runs
on asyncio only, so on trio the check fails saying so.

Why aiomysql and not asyncmy: aiomysql is pure Python on top of PyMySQL, one wheel that installs
on every Python and platform (asyncmy is compiled: a new Python or platform waits for its wheels,
or needs a C compiler); it is kept up by aio-libs; its errors carry MySQL's error numbers, which
name failures exactly; and a query cancelled at the check's timeout closes its connection rather
than handing the pool a connection in mid-answer (asyncmy does the same). asyncmy's speed is no
gain for ``SELECT 1``. An application on asyncmy (or any MySQL driver under SQLAlchemy) can use
``healthkit_checks.sqlalchemy`` with its engine; failures are named the same way.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import anyio

from healthkit import Result, Status

from ._drivers import driver, failure, not_on_asyncio, round_trip, where
from ._levels import require_levels

__all__ = ["query"]

WHAT = "expected an aiomysql Pool or a mysql:// DSN"
#: The DSN's query options this check reads; any other is refused when the check is made.
OPTIONS = ("unix_socket",)


def query(
    target: Any,
    sql: str = "SELECT 1",
    *,
    warn_at: float | None = None,
    fail_at: float | None = None,
    context: ssl.SSLContext | None = None,
) -> Callable[[], Awaitable[Result]]:
    """A check that runs ``sql`` on a connection from ``target`` (a pool, or a DSN).

    Reports the round trip, borrowing the connection included (``responseTime`` in ms;
    ``warn_at``/``fail_at`` in ms). Fails, saying why in plain words: ``connection refused``,
    ``connection lost``, ``authentication failed``, ``the database does not exist``, ``too many
    connections``, ``the query failed (MySQL error 1146)``, ... A pool with no free connection
    keeps the check waiting until its timeout. On a pool without autocommit, a transaction the
    query opens (a write probe's) is rolled back, and the connection goes back to the pool.

    ``target`` may also be a function that returns the pool, called at each check: for a pool
    made in the application's lifespan, ``mysql.query(lambda: app.state.pool)``. A DSN reads
    ``mysql://user:password@host:3306/database`` and one option, ``?unix_socket=/path``; with
    ``context`` (an ``ssl.SSLContext``), its connections use TLS.
    """
    require_levels("mysql.query", warn_at, fail_at)
    if not isinstance(sql, str) or not sql.strip():
        msg = f"mysql.query: sql must be a non-empty string, got {sql!r}"
        raise ValueError(msg)
    if context is not None and not isinstance(context, ssl.SSLContext):
        msg = f"mysql.query: context must be an ssl.SSLContext or None, got {type(context).__name__}"
        raise TypeError(msg)
    if isinstance(target, str):
        settings, label = _dsn(target, context)
        driver("aiomysql", "healthkit_checks.mysql", "mysql")

        def resolve() -> tuple[str, Any]:
            return "dsn", settings

    else:
        if context is not None:
            msg = "mysql.query: context is for a DSN; a pool connects with its own settings"
            raise ValueError(msg)
        resolve, label = _resolver(target), "mysql"

    async def mysql_query() -> Result:
        refused = not_on_asyncio("mysql.query")
        if refused is not None:
            return refused
        try:
            kind, source = resolve()
        except (LookupError, TypeError) as exc:
            return Result(Status.FAIL, output=str(exc))
        run = _on_dsn if kind == "dsn" else _on_pool
        return await round_trip(
            lambda: run(source, sql),
            label,
            warn_at=warn_at,
            fail_at=fail_at,
            what="the query took",
            why=failure,
        )

    return mysql_query


def _dsn(url: str, context: ssl.SSLContext | None) -> tuple[dict[str, Any], str]:
    """aiomysql.connect's keyword arguments for a DSN, and the label that names it (no user, no
    password). Raises a ValueError, repeating no value of the DSN, when it cannot be read."""
    if not url.startswith(("mysql://", "mariadb://")):
        msg = f"mysql.query: {WHAT}, got a string that is not a mysql:// or mariadb:// DSN"
        raise ValueError(msg)
    shown = where(url, "mysql.query")
    parts = urlsplit(url)
    try:
        options = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        msg = "mysql.query: the DSN's options cannot be read; percent-encode any '&' or '=' in them"
        raise ValueError(msg) from None
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        msg = f"mysql.query: the DSN's option {names} is not read here; it takes {', '.join(OPTIONS)}"
        msg += " (and context= for TLS)"
        raise ValueError(msg)
    if any(len(values) > 1 or not values[0] for values in options.values()):
        msg = "mysql.query: unix_socket must be given once, with a path"
        raise ValueError(msg)
    settings: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password or ""),
        "db": unquote(parts.path.lstrip("/")) or None,
        "autocommit": True,
        "ssl": context,
    }
    if "unix_socket" in options:
        settings["unix_socket"] = options["unix_socket"][0]
        return settings, f"mysql at {settings['unix_socket']}"
    return settings, f"mysql at {shown}"


def _resolver(target: Any) -> Callable[[], tuple[str, Any]]:
    """What the check calls to get ("pool", pool): fixed now, or asked of a function at each call."""
    if not _is_pool(target) and callable(target):
        getter: Callable[[], Any] = target

        def resolve() -> tuple[str, Any]:
            try:
                pool = getter()
            except Exception as exc:
                msg = f"mysql.query: the pool is not available ({type(exc).__name__} from the function given)"
                raise LookupError(msg) from None
            _require_pool(pool)
            return "pool", pool

        return resolve
    _require_pool(target)
    return lambda: ("pool", target)


def _is_pool(target: Any) -> bool:
    """An aiomysql Pool (a subclass too). A pool's driver is imported already: this imports nothing."""
    pools = sys.modules.get("aiomysql.pool")
    return pools is not None and isinstance(target, pools.Pool)


def _require_pool(target: Any) -> None:
    if _is_pool(target):
        return
    module = type(target).__module__.split(".")[0]
    hints = {
        "sqlalchemy": " (for an SQLAlchemy engine, use healthkit_checks.sqlalchemy)",
        "asyncmy": " (for asyncmy, use healthkit_checks.sqlalchemy with a mysql+asyncmy engine)",
    }
    msg = f"mysql.query: {WHAT}, got {type(target).__name__}{hints.get(module, '')}"
    raise TypeError(msg)


async def _on_pool(pool: Any, sql: str) -> None:
    async with pool.acquire() as connection:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
            await cursor.fetchall()
        if connection.get_transaction_status():
            # A pool without autocommit, and a query that opened a transaction (a write probe):
            # roll it back, or the pool closes the connection when it comes back.
            await connection.rollback()


async def _on_dsn(settings: dict[str, Any], sql: str) -> None:
    aiomysql = driver("aiomysql", "healthkit_checks.mysql", "mysql")
    connection = await aiomysql.connect(**settings)
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
            await cursor.fetchall()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1), suppress(Exception):
            await connection.ensure_closed()  # says goodbye (COM_QUIT), then closes
        connection.close()
