"""DNS: a name resolves.

Check("dns:responseTime", dns.resolve("db.internal"), component_type="system")
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import anyio

from healthkit import Result, Status

from ._levels import judge, require_levels

__all__ = ["resolve"]


def resolve(
    name: str, *, warn_at: float | None = None, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]]:
    """A check that resolves ``name`` (the system resolver, as the application's own connections
    do) and reports how long it took (``responseTime`` in ms; ``warn_at``/``fail_at`` in ms)."""
    if not isinstance(name, str) or not name:
        msg = f"dns.resolve: name must be a non-empty string, got {name!r}"
        raise ValueError(msg)
    require_levels("dns.resolve", warn_at, fail_at)

    async def dns_resolve() -> Result:
        started = anyio.current_time()
        try:
            addresses = await anyio.getaddrinfo(name, None)
        except socket.gaierror:
            return Result(Status.FAIL, output=f"{name} does not resolve")
        elapsed_ms = (anyio.current_time() - started) * 1000
        if not addresses:
            return Result(Status.FAIL, output=f"{name} resolves to no address")
        return judge(elapsed_ms, "ms", warn_at=warn_at, fail_at=fail_at, what=f"resolving {name} took")

    return dns_resolve
