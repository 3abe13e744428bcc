"""Celery: enough workers answer a ping through the broker.

    Check("celery:workers", celery.ping(app, min_workers=2), component_type="component")

``app`` is the application's own ``Celery`` app: the ping goes through its broker, with its
settings (control exchange, serializer, transport options). A broker URL works too (``redis://``,
``amqp://``, ...), for workers that use Celery's default control settings; its password never
appears in outputs. Needs the ``celery`` extra, and the broker's own client (``celery[redis]``
for Redis).

Celery's client blocks, so the check is a plain function: healthkit runs it in one of its own
worker threads, never on the event loop, on asyncio and trio alike. Connecting to the broker,
sending the ping and listening for answers share its own ``timeout`` (0.4 s, inside a
``Check``'s default 0.5 s), and no wait of the client's is left without a limit (redis-py's
socket reads have none by default), so its thread comes back. Raise both together
(``celery.ping(app, timeout=1.5)`` in ``Check(..., timeout=2)``, under an endpoint deadline above
that), or a missing worker reads ``timed out after 0.5s``
rather than how many answered.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from healthkit import Result, Status

from ._drivers import driver, failure, where
from .tcp import exception_chain

__all__ = ["ping"]

#: Seconds the check listens for answers at least, even when connecting took its whole timeout.
MINIMUM_WAIT = 0.05

WHAT = "expected a Celery app or a broker URL (redis://, amqp://, ...)"


def ping(target: Any, *, min_workers: int = 1, timeout: float = 0.4) -> Callable[[], Result]:
    """A check that pings the workers and counts those that answer within ``timeout`` seconds
    (connecting to the broker included).

    Fewer than ``min_workers`` is a fail that says how many answered of how many are required:
    ``1 of 2 required workers answered within 0.4s``. It stops listening as soon as
    ``min_workers`` have answered, so a pass is quick; its ``workers`` value counts the answers
    heard until then. A broker that cannot be reached is a fail in plain words: ``connection
    refused``, ``authentication failed``, ``timed out``, ... (never kombu's retries, which sleep
    for seconds between attempts).
    """
    if isinstance(min_workers, bool) or not isinstance(min_workers, int) or min_workers < 1:
        msg = f"celery.ping: min_workers must be a whole number of at least 1, got {min_workers!r}"
        raise ValueError(msg)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        msg = f"celery.ping: timeout must be a positive number of seconds, got {timeout!r}"
        raise ValueError(msg)
    module = driver("celery", "healthkit_checks.celery", "celery")
    control = driver("celery.app.control", "healthkit_checks.celery", "celery")
    if isinstance(target, str):
        app = _app_for(target, module)
    elif isinstance(target, module.Celery):
        app = target
    else:
        msg = f"celery.ping: {WHAT}, got {type(target).__name__}"
        raise TypeError(msg)
    waited = f"{timeout:g}s"

    def celery_ping() -> Result:
        started = time.monotonic()
        try:
            connection = app.connection_for_write(connect_timeout=timeout)
            label = _label(connection)
            if connection.transport.driver_type == "redis":
                # redis-py waits forever for a reply by default: a broker that accepts and never
                # answers would hold the check's thread for good.
                connection.transport_options = {
                    **(connection.transport_options or {}),
                    "socket_connect_timeout": timeout,
                    "socket_timeout": timeout,
                }
        except Exception as exc:
            return Result(Status.FAIL, output=f"celery: the broker cannot be used ({type(exc).__name__})")
        try:
            with connection:
                connection.ensure_connection(max_retries=0)
                left = max(timeout - (time.monotonic() - started), MINIMUM_WAIT)
                # A Control of its own: replies that come after it stopped listening are left to
                # it, not kept in the application's app.control for good.
                replies = control.Control(app).ping(timeout=left, limit=min_workers, connection=connection)
        except Exception as exc:
            return Result(Status.FAIL, output=f"{label}: {_reason(exc)}")
        answered = len(replies or ())
        if answered < min_workers:
            output = f"{answered} of {min_workers} required workers answered within {waited}"
            return Result(Status.FAIL, output=output, observed_value=answered, observed_unit="workers")
        return Result(Status.PASS, observed_value=answered, observed_unit="workers")

    return celery_ping


def _app_for(url: str, module: Any) -> Any:
    """A Celery app of the check's own for a broker URL, checked now."""
    transports = driver("kombu.transport", "healthkit_checks.celery", "celery")
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme.split("+", 1)[0] not in transports.TRANSPORT_ALIASES:
        known = ", ".join(f"{name}://" for name in ("amqp", "amqps", "redis", "rediss", "sqs"))
        msg = f"celery.ping: {WHAT}, got a string that is not a broker URL Celery knows ({known}, ...)"
        raise ValueError(msg)
    where(url, "celery.ping")
    return module.Celery("healthkit", broker=url, set_as_current=False)


def _label(connection: Any) -> str:
    """``celery broker at host:port/virtual host`` (Redis: the database number): no user, no
    password."""
    host = connection.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{host}:{connection.port}" if connection.port else host
    vhost = str(connection.virtual_host or "").strip("/")
    return f"celery broker at {shown}/{vhost}" if vhost else f"celery broker at {shown}"


#: Exception names (of redis-py, py-amqp and kombu) that have a plain meaning.
NAMED = {
    "AuthenticationError": "authentication failed",
    "AuthenticationWrongNumberOfArgsError": "authentication failed",
    "AccessRefused": "authentication failed",
    "NotAllowed": "the broker refused the connection (the virtual host, or the user's access to it)",
    "BusyLoadingError": "the broker is loading its data",
    "TimeoutError": "timed out",  # redis-py's, and the built-in one (socket.timeout)
}


def _reason(exc: Exception) -> str:
    """A short, secret-free account of a broker failure, never the driver's text."""
    for seen in exception_chain(exc):
        for kind in type(seen).__mro__:
            if kind.__name__ in NAMED:
                return NAMED[kind.__name__]
    return failure(exc)
