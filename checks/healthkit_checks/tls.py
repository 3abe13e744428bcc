"""TLS: a server's certificate is valid, and how many days it has left.

Check("billing:certificate", tls.expiry("billing.internal", 443, warn_at=30, fail_at=7))
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute, TLSStream

from healthkit import Result, Status

from .tcp import exception_chain, reason

__all__ = ["expiry"]


def expiry(
    host: str,
    port: int = 443,
    *,
    warn_at: float | None = 30,
    fail_at: float | None = 7,
    context: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> Callable[[], Awaitable[Result]]:
    """A check that makes a TLS handshake with ``host:port`` and reports the days left on the
    server's certificate (``daysLeft``). Warns at ``warn_at`` days or fewer, fails at ``fail_at``
    or fewer; a certificate the ``context`` (default: the system's trust) rejects fails, saying
    why (``certificate has expired``, ``self-signed certificate``, ...)."""
    if not isinstance(host, str) or not host:
        msg = f"tls.expiry: host must be a non-empty string, got {host!r}"
        raise ValueError(msg)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        msg = f"tls.expiry: port must be a whole number from 1 to 65535, got {port!r}"
        raise ValueError(msg)
    for name, days in (("warn_at", warn_at), ("fail_at", fail_at)):
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int | float) or not math.isfinite(days) or days < 0
        ):
            msg = f"tls.expiry: {name} must be a finite number of days, 0 or more, or None, got {days!r}"
            raise ValueError(msg)
    if warn_at is not None and fail_at is not None and warn_at < fail_at:
        msg = f"tls.expiry: warn_at ({warn_at} days) must not be below fail_at ({fail_at} days)"
        raise ValueError(msg)
    trust = context or ssl.create_default_context()
    target = f"{host}:{port}"

    async def tls_expiry() -> Result:
        try:
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(host, port)
        except OSError as exc:
            return Result(Status.FAIL, output=f"cannot connect to {target}: {reason(exc)}")
        try:
            tls = await TLSStream.wrap(stream, hostname=server_name or host, ssl_context=trust)
            certificate = tls.extra(TLSAttribute.peer_certificate)  # noqa: S610 - anyio, not Django
        except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            return Result(Status.FAIL, output=f"{target}: TLS certificate rejected ({_why(exc)})")
        finally:
            # Whatever happened, the check's timeout (a cancellation) included: close the socket.
            # No TLS closing handshake: the certificate is all the check came for, and waiting for
            # the server's close_notify breaks (or hangs) on the many servers that just close.
            await anyio.aclose_forcefully(stream)
        if not certificate or "notAfter" not in certificate:
            return Result(Status.FAIL, output=f"{target}: the server sent no certificate")
        days = (ssl.cert_time_to_seconds(str(certificate["notAfter"])) - time.time()) / 86400
        shown = round(days, 1)
        if fail_at is not None and days <= fail_at:
            status = Status.FAIL
        elif warn_at is not None and days <= warn_at:
            status = Status.WARN
        else:
            return Result(Status.PASS, observed_value=shown, observed_unit="days")
        return Result(
            status,
            output=f"{target}: the certificate expires in {shown} days",
            observed_value=shown,
            observed_unit="days",
        )

    return tls_expiry


def _why(exc: BaseException) -> str:
    for seen in exception_chain(exc):
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message)
    return "handshake failed"
