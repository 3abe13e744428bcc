"""RabbitMQ (AMQP 0-9-1): the broker opens a channel, and how many messages wait in a queue.

    Check("rabbitmq:responseTime", rabbitmq.connect(connection), component_type="component")
    Check("orders:messages", rabbitmq.queue_depth(connection, "orders", warn_at=1000, fail_at=10000))

``connection`` is the application's own aio-pika connection (``aio_pika.connect_robust``, or
``aio_pika.connect``), or a function that returns it, called at each check (for a connection made
in the application's lifespan: ``rabbitmq.connect(lambda: app.state.amqp)``). Each call opens a
channel of its own on it and closes it: the application's channels are never used, so a failed
check cannot close one of them. An ``amqp://`` or ``amqps://`` URL works too (a connection per
call); its user and password never appear in outputs. Needs the ``rabbitmq`` extra (aio-pika),
which runs on asyncio only: on another event loop (trio) these checks fail, saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from healthkit import Result, Status

from ._drivers import driver, failure, not_on_asyncio, round_trip, where
from ._levels import judge, require_levels
from .tcp import exception_chain

__all__ = ["connect", "queue_depth"]

WHAT = "expected an aio-pika connection, a function that returns one, or an amqp:// URL"


def connect(
    target: Any, *, warn_at: float | None = None, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]]:
    """A check that opens a channel and closes it (with a URL: connects first, then closes).

    Reports the round trip (``responseTime`` in ms; ``warn_at``/``fail_at`` in ms). Fails,
    saying why in plain words: ``connection refused``, ``connection lost``, ``authentication
    failed``, ``the connection is closed``, ...
    """
    require_levels("rabbitmq.connect", warn_at, fail_at)
    module = driver("aio_pika", "healthkit_checks.rabbitmq", "rabbitmq")
    resolve, label = _target(target, "rabbitmq.connect", module)

    async def rabbitmq_connect() -> Result:
        refused = not_on_asyncio("rabbitmq.connect")
        if refused is not None:
            return refused
        try:
            source = resolve()
        except LookupError as exc:
            return Result(Status.FAIL, output=str(exc))

        async def run() -> None:
            await _on_channel(module, source, _opened)

        return await round_trip(
            run, label, warn_at=warn_at, fail_at=fail_at, what="opening a channel took", why=_reason
        )

    return rabbitmq_connect


def queue_depth(
    target: Any, queue: str, *, warn_at: float | None = None, fail_at: float | None = None
) -> Callable[[], Awaitable[Result]]:
    """A check of how many messages wait in ``queue`` (``messages``: those ready for delivery,
    not those delivered and awaiting their acknowledgement), read with a passive declare, which
    creates nothing: a queue that does not exist is a fail.

    ``warn_at``/``fail_at`` are numbers of messages (warn or fail at or above them). Fails,
    saying why in plain words, as ``connect`` does, and ``the queue 'orders' does not exist``.
    """
    require_levels("rabbitmq.queue_depth", warn_at, fail_at)
    if not isinstance(queue, str) or not queue:
        msg = f"rabbitmq.queue_depth: queue must be a queue's name (a non-empty string), got {queue!r}"
        raise ValueError(msg)
    module = driver("aio_pika", "healthkit_checks.rabbitmq", "rabbitmq")
    resolve, label = _target(target, "rabbitmq.queue_depth", module)

    async def count(channel: Any) -> int:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count)

    async def rabbitmq_queue_depth() -> Result:
        refused = not_on_asyncio("rabbitmq.queue_depth")
        if refused is not None:
            return refused
        try:
            source = resolve()
        except LookupError as exc:
            return Result(Status.FAIL, output=str(exc))
        try:
            messages = await _on_channel(module, source, count)
        except Exception as exc:
            return Result(Status.FAIL, output=f"{label}: {_reason(exc, queue)}")
        return judge(messages, "messages", warn_at=warn_at, fail_at=fail_at, what=f"queue {queue!r} holds")

    return rabbitmq_queue_depth


async def _opened(channel: Any) -> None:
    """Nothing more to do: the channel opened."""


def _target(target: Any, check: str, module: Any) -> tuple[Callable[[], Any], str]:
    """(what a check calls to get a connection or a URL, the label of its outputs), checked now."""
    if isinstance(target, str):
        if not target.startswith(("amqp://", "amqps://")):
            msg = f"{check}: {WHAT}, got a string that is not an amqp:// or amqps:// URL"
            raise ValueError(msg)
        shown = where(target, check).removesuffix("//")  # the default virtual host, "/"
        return (lambda: target), f"rabbitmq at {shown}"
    connection_type = module.abc.AbstractConnection
    if isinstance(target, connection_type):
        return (lambda: target), "rabbitmq"
    if isinstance(target, module.abc.AbstractChannel):
        msg = (
            f"{check}: {WHAT}, got a channel: pass its connection (the check opens a channel of its "
            "own, as a failed declare closes the channel it runs on)"
        )
        raise TypeError(msg)
    if callable(target):
        getter: Callable[[], Any] = target

        def resolve() -> Any:
            try:
                connection = getter()
            except Exception as exc:
                given = type(exc).__name__
                msg = f"{check}: the connection is not available ({given} from the function given)"
                raise LookupError(msg) from None
            if not isinstance(connection, connection_type):
                msg = f"{check}: {WHAT}, got {type(connection).__name__} from the function given"
                raise LookupError(msg)
            return connection

        return resolve, "rabbitmq"
    msg = f"{check}: {WHAT}, got {type(target).__name__}"
    raise TypeError(msg)


async def _on_channel(module: Any, source: Any, use: Callable[[Any], Awaitable[Any]]) -> Any:
    """``use(channel)`` on a channel opened for it alone: on a new connection to ``source`` (a
    URL), or on the application's connection. The channel, and a new connection, are closed
    after, even when the check is cancelled at its timeout."""
    if not isinstance(source, str):
        return await _with_channel(module, source, use)
    connection = await module.connect(source)
    try:
        return await _with_channel(module, connection, use)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            await connection.close()


async def _with_channel(module: Any, connection: Any, use: Callable[[Any], Awaitable[Any]]) -> Any:
    if connection.is_closed:
        raise _Closed
    if not connection.connected.is_set():
        raise _Lost  # a robust connection, reconnecting: opening a channel would wait for it
    # A plain channel, even on a robust connection: a robust one reopens itself after the broker
    # closes it (as after a passive declare of a missing queue), racing the check's own close.
    channel = module.Channel(connection, publisher_confirms=False)
    try:
        await channel.initialize()
        return await use(channel)
    finally:
        if channel.is_initialized and not channel.is_closed:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await channel.close()


class _Lost(Exception):
    """The application's robust connection lost the broker and is reconnecting."""


class _Closed(Exception):
    """The application's connection was closed (by the application, or, for a connection that
    does not reconnect, by the broker)."""


REFUSED = "the broker refused the connection (the virtual host, or the user's access to it)"

#: Exception names (aiormq's, pamqp's) with a plain meaning, most specific first.
NAMED = (
    ("ChannelAccessRefused", "access refused (the user's permissions)"),
    ("ChannelLockedResource", "the queue is exclusive to another connection"),
    ("AuthenticationError", "authentication failed"),
    ("ProbableAuthenticationError", "authentication failed"),
    ("IncompatibleProtocolError", "not an AMQP 0-9-1 broker"),
    # The broker answers Connection.Open with Connection.Close: a virtual host that does not
    # exist, or that the user may not use (aiormq 7 says InvalidFrameError, aiormq 6 passes on
    # pamqp's AMQPInternalError).
    ("InvalidFrameError", REFUSED),
    ("AMQPInternalError", REFUSED),
    ("ConnectionClosed", "connection lost"),
    ("ChannelInvalidStateError", "connection lost"),
)


def _reason(exc: Exception, queue: str | None = None) -> str:
    """A short, secret-free account of an AMQP failure, never the driver's text."""
    if isinstance(exc, _Closed):
        return "the connection is closed"
    if isinstance(exc, _Lost):
        return "connection lost"
    names = {kind.__name__ for seen in exception_chain(exc) for kind in type(seen).__mro__}
    if "ChannelNotFoundEntity" in names:
        return f"the queue {queue!r} does not exist" if queue else "not found"
    for name, meaning in NAMED:
        if name in names:
            return meaning
    return failure(exc)
