"""TCP: a dependency accepts connections.

Check("search:responseTime", tcp.connect("search.internal", 9200, warn_at=200), tags={"ready"})
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable

import anyio

from healthkit import Result, Status

from ._levels import judge, require_levels

__all__ = ["connect"]


def connect(
    host: str, port: int, *, warn_at: float | None = None, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]]:
    """A check that opens a TCP connection to ``host:port`` and closes it.

    Reports the connect time (``responseTime`` in ms); ``warn_at`` and ``fail_at`` are in ms.
    A refused or unreachable connection fails, saying which.
    """
    if not isinstance(host, str) or not host:
        msg = f"tcp.connect: host must be a non-empty string, got {host!r}"
        raise ValueError(msg)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        msg = f"tcp.connect: port must be a whole number from 1 to 65535, got {port!r}"
        raise ValueError(msg)
    require_levels("tcp.connect", warn_at, fail_at)
    target = f"{host}:{port}"

    async def tcp_connect() -> Result:
        started = anyio.current_time()
        try:
            stream = await anyio.connect_tcp(host, port)
        except OSError as exc:
            return Result(Status.FAIL, output=f"cannot connect to {target}: {reason(exc)}")
        await stream.aclose()
        elapsed_ms = (anyio.current_time() - started) * 1000
        return judge(elapsed_ms, "ms", warn_at=warn_at, fail_at=fail_at, what=f"connecting to {target} took")

    return tcp_connect


def reason(exc: BaseException) -> str:
    """A short, secret-free account of a connection failure (asyncio and trio word them apart)."""
    for seen in exception_chain(exc):
        if isinstance(seen, socket.gaierror):
            return "the name does not resolve"
        if isinstance(seen, ConnectionRefusedError) or getattr(seen, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(seen, TimeoutError) or getattr(seen, "errno", None) == errno.ETIMEDOUT:
            return "timed out"
        if getattr(seen, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
    return type(exc).__name__


def exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups among them."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending and len(seen) < 50:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen
