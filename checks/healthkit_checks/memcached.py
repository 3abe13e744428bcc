"""Memcached: the server answers a round trip.

    Check("memcached:responseTime", memcached.ping("memcached://cache:11211"), component_type="datastore")

``target`` is ``host:port``, a ``memcached://host:port`` URL, or the application's own aiomcache
``Client`` (the check asks the server it talks to, with TLS when the client uses it). Each call
opens a connection of its own, sends ``version`` and waits for the answer; a URL with a user and
password logs in first (memcached's ASCII authentication, ``memcached -Y``, which sends it as
it is: use TLS where that matters), and the password never appears in outputs. Nothing is
stored, read or evicted. With ``context`` (an ``ssl.SSLContext``), the connection uses TLS
(``memcached -Z``).

Needs no extra, and runs on asyncio and trio: the check speaks the two commands of memcached's
text protocol itself, rather than through aiomcache, whose latest release (0.8.2) has two defects
a health check would trigger: a command cancelled at its deadline hands the pool a connection
whose answer is still to come (the next command reads it), and a connection the server closes
mid-command makes the client spin without yielding, freezing the event loop (the whole
application) instead of failing. The check's own connection is never the application's.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from healthkit import Result

from ._drivers import Refused, round_trip, where
from ._levels import require_levels
from .tcp import exception_chain, reason

__all__ = ["ping"]

WHAT = "expected 'host:port', a memcached:// URL or an aiomcache Client"
#: The longest answer line read; memcached's answers to these commands are a few dozen bytes.
LINE = 1024


def ping(
    target: Any,
    *,
    context: ssl.SSLContext | None = None,
    warn_at: float | None = None,
    fail_at: float | None = None,
) -> Callable[[], Awaitable[Result]]:
    """A check that sends ``version`` on a new connection and waits for the answer.

    Reports the round trip, connecting (and logging in) included (``responseTime`` in ms;
    ``warn_at``/``fail_at`` in ms). Fails, saying why in plain words: ``connection refused``,
    ``connection lost``, ``authentication failed``, ``the server asks for a login``, ``the
    server answered with an error``, ``TLS certificate rejected (self-signed certificate)``, ...
    """
    require_levels("memcached.ping", warn_at, fail_at)
    if context is not None and not isinstance(context, ssl.SSLContext):
        msg = f"memcached.ping: context must be an ssl.SSLContext or None, got {type(context).__name__}"
        raise TypeError(msg)
    host, port, login, tls = _server(target)
    if tls is not None and context is not None:
        msg = "memcached.ping: the aiomcache Client brings its own TLS settings: leave context unset"
        raise ValueError(msg)
    tls = tls or context
    label = f"memcached at [{host}]:{port}" if ":" in host else f"memcached at {host}:{port}"

    async def memcached_ping() -> Result:
        return await round_trip(
            lambda: _version(host, port, login, tls),
            label,
            warn_at=warn_at,
            fail_at=fail_at,
            what="the round trip took",
            why=_reason,
        )

    return memcached_ping


async def _version(host: str, port: int, login: bytes | None, tls: ssl.SSLContext | None) -> None:
    stream: anyio.abc.ByteStream
    if tls is None:
        stream = await anyio.connect_tcp(host, port)
    else:  # no TLS closing handshake: whatever happened, the connection is done with
        stream = await anyio.connect_tcp(host, port, ssl_context=tls, tls_standard_compatible=False)
    try:
        answers = BufferedByteReceiveStream(stream)
        if login is not None:
            # ASCII authentication: a `set` of "user password" as the first command.
            await stream.send(b"set healthkit 0 0 %d\r\n%s\r\n" % (len(login), login))
            answer = await answers.receive_until(b"\r\n", LINE)
            if answer != b"STORED":
                raise Refused(_meaning(answer))
        await stream.send(b"version\r\n")
        answer = await answers.receive_until(b"\r\n", LINE)
        if not answer.startswith(b"VERSION "):
            raise Refused(_meaning(answer))
    finally:
        await anyio.aclose_forcefully(stream)


def _meaning(answer: bytes) -> str:
    """Plain words for an answer that is not the one asked for (never the answer's own text)."""
    if answer == b"CLIENT_ERROR authentication failure":
        return "authentication failed"
    if answer == b"CLIENT_ERROR unauthenticated":
        return "the server asks for a login"
    if answer.startswith(b"SERVER_ERROR"):
        return "the server answered with an error"
    if answer == b"ERROR":
        return "the server does not know the command (is it memcached?)"
    return "unexpected answer (is it memcached?)"


def _reason(exc: Exception) -> str:
    if isinstance(exc, Refused):
        return exc.meaning
    chain = exception_chain(exc)
    for seen in chain:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected ({seen.verify_message})"
    if any(isinstance(seen, ssl.SSLError) for seen in chain):
        return "TLS handshake failed"
    if isinstance(exc, anyio.DelimiterNotFound):
        return "unexpected answer (is it memcached?)"
    if isinstance(exc, anyio.EndOfStream | anyio.IncompleteRead | anyio.BrokenResourceError):
        return "connection lost"
    return reason(exc)


def _server(target: Any) -> tuple[str, int, bytes | None, ssl.SSLContext | None]:
    """(host, port, the login to send or None, the client's TLS context or None) of a target;
    raises when it cannot be read."""
    if isinstance(target, str):
        return (*_address(target), None)
    if type(target).__module__.split(".")[0] == "aiomcache":
        pool = getattr(target, "_pool", None)
        host, port = getattr(pool, "_host", None), getattr(pool, "_port", None)
        if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
            msg = "memcached.ping: cannot read the aiomcache Client's host and port; give 'host:port'"
            raise TypeError(msg)
        tls = (getattr(pool, "conn_args", None) or {}).get("ssl")
        if tls is True:  # asyncio's own meaning: the default context
            tls = ssl.create_default_context()
        if tls not in (None, False) and not isinstance(tls, ssl.SSLContext):
            msg = "memcached.ping: cannot read the aiomcache Client's TLS setting; give context="
            raise TypeError(msg)
        return host, port, None, tls or None
    msg = f"memcached.ping: {WHAT}, got {type(target).__name__}"
    raise TypeError(msg)


def _address(text: str) -> tuple[str, int, bytes | None]:
    if "://" in text and not text.startswith("memcached://"):
        msg = f"memcached.ping: {WHAT}, got a string that is not a memcached:// URL"
        raise ValueError(msg)
    url = text if text.startswith("memcached://") else f"memcached://{text}"
    where(url, "memcached.ping")  # refuses what cannot be read for sure, repeating none of it
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment or not parts.hostname:
        msg = "memcached.ping: the address must be host:port, with no path or options"
        raise ValueError(msg)
    login = None
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        if not user or not password or any(c.isspace() for c in user + password):
            msg = "memcached.ping: a login needs a user and a password, neither with spaces"
            raise ValueError(msg)
        login = f"{user} {password}".encode()
    return parts.hostname, parts.port or 11211, login
