"""gRPC: an upstream service answers the gRPC health checking protocol (``grpc.health.v1``) SERVING.

    Check("billing:grpc", grpc.check("billing.internal:50051", service="billing.v1.Billing"), external=True)

``target`` is ``host:port``: each call opens a channel and closes it after, as the kubelet's
``grpc:`` probes connect anew, so an upstream that comes back passes at the next call. Or the
application's own ``grpc.aio.Channel``, reused (its reconnection backoff applies). ``tls=True``
connects with TLS, trusting the system's certificate authorities; ``tls=`` a
``grpc.ssl_channel_credentials(...)`` uses those. Needs the ``grpc`` extra; grpc.aio runs on
asyncio only.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from healthkit import Result

from ._drivers import failure, not_on_asyncio, round_trip
from ._levels import require_levels

__all__ = ["check"]

_CHECK = "/grpc.health.v1.Health/Check"


def _modules() -> tuple[Any, Any]:
    try:
        import grpc
        import grpc.aio
        from grpc_health.v1 import health_pb2
    except ImportError as exc:
        needs = "needs grpcio and grpcio-health-checking"
        msg = f"healthkit_checks.grpc {needs}: pip install 'healthkit-asgi[grpc]'"
        raise ImportError(msg) from exc
    return grpc, health_pb2


class _Answered(Exception):
    """The server answered, with a status other than SERVING."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def check(
    target: Any,
    *,
    service: str = "",
    tls: Any = False,
    timeout: float | None = None,
    warn_at: float | None = None,
    fail_at: float | None = None,
) -> Callable[[], Awaitable[Result]]:
    """A check that calls ``grpc.health.v1.Health/Check`` for ``service`` (``""``: the server's
    overall health) and passes when the answer is ``SERVING``.

    Reports the round trip (``responseTime`` in ms; ``warn_at``/``fail_at`` in ms). ``timeout``
    (seconds) is the call's gRPC deadline; without it the check's own timeout cuts the call.
    Fails, saying why in plain words: ``not serving (NOT_SERVING)``, ``no health service``
    (``UNIMPLEMENTED``), ``the server does not know the service ...`` (``NOT_FOUND``),
    ``unreachable: connection refused``, ``deadline exceeded``, ... never gRPC's own text.
    """
    grpc, health_pb2 = _modules()
    require_levels("grpc.check", warn_at, fail_at)
    if not isinstance(service, str):
        msg = f"grpc.check: service must be a string ('' for the server's overall health), got {service!r}"
        raise TypeError(msg)
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        msg = f"grpc.check: timeout must be a positive number of seconds or None, got {timeout!r}"
        raise ValueError(msg)
    credentials: Any = None
    if tls is True:
        credentials = grpc.ssl_channel_credentials()
    elif isinstance(tls, grpc.ChannelCredentials):
        credentials = tls
    elif tls is not False:
        msg = f"grpc.check: tls must be True, False or grpc.ChannelCredentials, got {type(tls).__name__}"
        raise TypeError(msg)
    channel: Any = None
    if isinstance(target, str):
        address = _address(target)
        label = f"gRPC health of {address}"
    elif isinstance(target, grpc.aio.Channel):
        if tls is not False:
            msg = "grpc.check: tls is the channel's own setting when a channel is given; leave tls out"
            raise ValueError(msg)
        channel, address, label = target, None, "gRPC health"
    else:
        hint = " (a synchronous channel: use grpc.aio)" if isinstance(target, grpc.Channel) else ""
        given = type(target).__name__
        msg = f"grpc.check: expected 'host:port' or a grpc.aio.Channel, got {given}{hint}"
        raise TypeError(msg)
    if service:
        label += f" (service {service!r})"
    request = health_pb2.HealthCheckRequest(service=service)
    serving = health_pb2.HealthCheckResponse.SERVING

    async def ask(on: Any) -> None:
        call = on.unary_unary(
            _CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        response = await call(request, timeout=timeout)
        if response.status != serving:
            raise _Answered(response.status)

    async def send() -> None:
        if channel is not None:
            await ask(channel)
            return
        opened = (
            grpc.aio.insecure_channel(address)
            if credentials is None
            else grpc.aio.secure_channel(address, credentials)
        )
        try:
            await ask(opened)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await opened.close()

    def why(exc: Exception) -> str:
        return _reason(exc, grpc, health_pb2, service, timeout)

    async def grpc_health_check() -> Result:
        refused = not_on_asyncio("grpc.check")
        if refused is not None:
            return refused
        return await round_trip(send, label, warn_at=warn_at, fail_at=fail_at, what="Check took", why=why)

    return grpc_health_check


def _address(target: str) -> str:
    """``host:port`` (``[v6 address]:port``), checked; raises a ValueError naming what is wrong."""
    shape = "'host:port' (an IPv6 address in brackets: '[::1]:50051')"
    host, colon, port = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        name = host[1:-1]
    else:
        name = host
        if ":" in host:
            msg = f"grpc.check: target must be {shape}, got {target!r}"
            raise ValueError(msg)
    if (
        not colon
        or not name
        or any(c.isspace() or c in "/@?#[]" for c in name)
        or not port.isdigit()
        or not 0 < int(port) < 65536
    ):
        msg = f"grpc.check: target must be {shape} with a port from 1 to 65535, got {target!r}"
        raise ValueError(msg)
    return target


def _reason(exc: Exception, grpc: Any, health_pb2: Any, service: str, timeout: float | None) -> str:
    """A plain account of a failed Check: the answer, or the call's status code, never its details."""
    statuses = health_pb2.HealthCheckResponse
    if isinstance(exc, _Answered):
        if exc.status == statuses.NOT_SERVING:
            return "not serving (NOT_SERVING)"
        if exc.status == statuses.SERVICE_UNKNOWN:
            return "the service is unknown there (SERVICE_UNKNOWN)"
        return "its status is unknown (UNKNOWN)"
    if not isinstance(exc, grpc.RpcError) or not callable(getattr(exc, "code", None)):
        return failure(exc)
    code = exc.code()
    codes = grpc.StatusCode
    if code == codes.NOT_FOUND:
        return f"the server does not know the service {service!r} (NOT_FOUND)"
    if code == codes.UNIMPLEMENTED:
        return "no health service: the server does not implement grpc.health.v1 (UNIMPLEMENTED)"
    if code == codes.DEADLINE_EXCEEDED:
        within = f" within {timeout:g}s" if timeout is not None else ""
        return f"deadline exceeded: no answer{within} (DEADLINE_EXCEEDED)"
    if code in (codes.UNAUTHENTICATED, codes.PERMISSION_DENIED):
        return f"not authorized ({code.name})"
    if code == codes.UNAVAILABLE:
        return f"unreachable: {_unavailable(exc)}"
    return f"failed ({code.name})"


#: Words in gRPC's details (never shown) that say why a server is unavailable, most specific first.
_UNAVAILABLE = (
    (("connection refused",), "connection refused"),
    (("dns resolution failed",), "the name does not resolve"),
    (("errors resolving",), "the name does not resolve"),
    (("lookup", "failed"), "the name does not resolve"),
    (("handshake",), "the TLS handshake failed"),
    (("ssl",), "the TLS handshake failed"),
    (("certificate",), "the TLS handshake failed"),
    (("timed out",), "timed out"),
    (("unreachable",), "host unreachable"),
    (("reset",), "connection lost"),
    (("socket closed",), "connection lost"),
)


def _unavailable(exc: Any) -> str:
    try:
        text = str(exc.details() or "").lower()
    except Exception:  # details that cannot be read say nothing
        text = ""
    for words, meaning in _UNAVAILABLE:
        if all(word in text for word in words):
            return meaning
    return "the server is not available (UNAVAILABLE)"
