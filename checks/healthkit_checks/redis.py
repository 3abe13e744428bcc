"""Redis: the server answers PING.

    Check("redis:responseTime", redis.ping(client, warn_at=50), component_type="datastore")

``client`` is the application's own ``redis.asyncio.Redis`` (its connection pool is reused). A
``redis://`` or ``rediss://`` URL works too (one connection per call); its password never
appears in outputs. Needs the ``redis`` extra; redis.asyncio runs on asyncio only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from healthkit import Result

from ._drivers import driver, failure, not_on_asyncio, round_trip, where
from ._levels import require_levels

__all__ = ["ping"]


def ping(
    target: Any, *, warn_at: float | None = None, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]]:
    """A check that sends PING and waits for the answer.

    Reports the round trip (``responseTime`` in ms; ``warn_at``/``fail_at`` in ms). Fails,
    saying why in plain words: ``connection refused``, ``connection lost``, ``authentication
    failed``, ``the server is loading its data``, ...
    """
    require_levels("redis.ping", warn_at, fail_at)
    module = driver("redis.asyncio", "healthkit_checks.redis", "redis")
    if isinstance(target, str):
        if not target.startswith(("redis://", "rediss://", "unix://")):
            msg = "redis.ping: expected a redis.asyncio.Redis client or a redis:// URL, got another string"
            raise ValueError(msg)
        label = f"redis at {where(target, 'redis.ping')}"
        try:
            module.connection.parse_url(target)
        except (ValueError, TypeError):
            msg = "redis.ping: the URL's options cannot be read (see redis.asyncio.from_url)"
            raise ValueError(msg) from None
    elif isinstance(target, module.Redis):
        label = "redis"
    else:
        hint = " (a synchronous client: use redis.asyncio.Redis)" if type(target).__name__ == "Redis" else ""
        given = type(target).__name__
        msg = f"redis.ping: expected a redis.asyncio.Redis client or a redis:// URL, got {given}{hint}"
        raise TypeError(msg)

    async def send() -> None:
        if not isinstance(target, str):
            await target.ping()
            return
        client = module.Redis.from_url(target)
        try:
            await client.ping()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await client.aclose()

    async def redis_ping() -> Result:
        refused = not_on_asyncio("redis.ping")
        if refused is not None:
            return refused
        return await round_trip(send, label, warn_at=warn_at, fail_at=fail_at, what="PING took", why=_reason)

    return redis_ping


def _reason(exc: Exception) -> str:
    exceptions = driver("redis.exceptions", "healthkit_checks.redis", "redis")
    named = (
        ("AuthenticationError", "authentication failed"),
        ("AuthorizationError", "authentication failed"),
        ("NoPermissionError", "PING is not permitted for this user"),
        ("BusyLoadingError", "the server is loading its data"),
        ("MaxConnectionsError", "the client's connection pool is exhausted"),
        ("TimeoutError", "timed out"),
    )
    for name, meaning in named:
        kind = getattr(exceptions, name, None)
        if kind is not None and isinstance(exc, kind):
            return meaning
    if isinstance(exc, exceptions.ResponseError):
        return f"error reply ({type(exc).__name__})"
    return failure(exc)
