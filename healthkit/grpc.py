"""The gRPC health checking protocol (``grpc.health.v1.Health``) answered from a Health's endpoints.

```python
grpc_health = HealthServer(health, port=50051)
app = Starlette(routes=health.routes(), lifespan=grpc_health.lifespan)
```

Kubernetes ``grpc:`` probes and gRPC clients then ask the same checks as ``/readyz`` and
``/livez``: ``Check`` runs the endpoint a service name maps to (``DEFAULT_SERVICES``), and
``Watch`` streams its status as it changes. The server runs beside the ASGI app, in the same
process and event loop, from the lifespan. To answer on the application's own ``grpc.aio``
server instead, add a ``HealthServicer`` to it.

Needs grpcio and grpcio-health-checking: ``pip install 'healthkit-asgi[grpc]'``. grpc.aio runs
on asyncio only: on trio the lifespan refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType
from typing import TypeAlias

import anyio

try:
    import grpc
    import grpc.aio
    from grpc_health.v1 import health_pb2
except ImportError as exc:  # pragma: no cover - tested in a plain install (.ci/run)
    msg = "healthkit.grpc needs grpcio and grpcio-health-checking: pip install 'healthkit-asgi[grpc]'"
    raise ImportError(msg) from exc

from ._check import require_seconds
from ._events import StatusChange
from ._health import Health
from ._loops import asyncio_loop
from ._probe import ENDPOINTS
from ._text import clip

__all__ = ["DEFAULT_SERVICES", "SERVICE", "HealthServer", "HealthServicer", "ServingStatus"]

_log = logging.getLogger("healthkit")

#: The gRPC service this module implements.
SERVICE = "grpc.health.v1.Health"

#: Service name (as a client asks for it) -> the endpoint that answers it: the empty name, the
#: server's overall health, is readiness; each probe answers to its role and to its endpoint's name.
DEFAULT_SERVICES: Mapping[str, str] = MappingProxyType(
    {
        "": "readyz",
        "liveness": "livez",
        "readiness": "readyz",
        "startup": "startupz",
        "health": "health",
        "livez": "livez",
        "readyz": "readyz",
        "startupz": "startupz",
    }
)

#: ``SERVING``, ``NOT_SERVING``, ``SERVICE_UNKNOWN`` (and ``UNKNOWN``), as grpc_health.v1 has them.
ServingStatus: TypeAlias = health_pb2.HealthCheckResponse.ServingStatus
_Response: TypeAlias = health_pb2.HealthCheckResponse
_Request: TypeAlias = health_pb2.HealthCheckRequest
_Context: TypeAlias = grpc.aio.ServicerContext[_Request, _Response]
_SERVING = _Response.SERVING
_NOT_SERVING = _Response.NOT_SERVING
_SERVICE_UNKNOWN = _Response.SERVICE_UNKNOWN


class _Watched:
    """One endpoint followed for every Watch of it on one event loop: one run at a time,
    whatever the number of watchers, each of whom reads the latest status."""

    __slots__ = ("changed", "closed", "due", "endpoint", "loop", "status", "task", "watchers")

    def __init__(self, endpoint: str, loop: asyncio.AbstractEventLoop) -> None:
        self.endpoint = endpoint
        self.loop = loop
        self.status: ServingStatus | None = None  # None until the first run ends
        self.changed = asyncio.Event()  # set (and replaced) when the status changes
        self.due = asyncio.Event()  # something changed that may change the status
        self.closed = False  # the service stopped: watchers send the last status and end
        self.watchers = 0
        self.task: asyncio.Task[None] | None = None

    def publish(self, status: ServingStatus, *, closing: bool = False) -> None:
        if status == self.status and not closing:
            return
        self.status = status
        self.closed = closing
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class HealthServicer:
    """The ``grpc.health.v1.Health`` service over a ``Health``'s endpoints, for a ``grpc.aio``
    server: ``HealthServer`` runs one; ``servicer.add_to(server)`` adds it to the application's own.

    - ``Check(service)`` runs the endpoint that ``services`` maps the name to, as a probe of it
      would (deadline, cache, the lifecycle: starting, not ready, the drain), and answers
      ``SERVING`` when that endpoint's HTTP status code is 2xx, else ``NOT_SERVING``: warn answers
      as the endpoint's ``status_codes`` map it. A name not in ``services`` fails with ``NOT_FOUND``.
    - ``Watch(service)`` sends the current status, then each change. The endpoint is run again
      when a check's status changes, when readiness is set or the drain begins, and every
      ``watch_every`` seconds (``None``: only on changes), at most once per
      ``watch_min_interval`` seconds, once for all the watchers of that endpoint. A name not in
      ``services`` gets ``SERVICE_UNKNOWN``, and the stream stays open, as the protocol says.

    ``services`` replaces ``DEFAULT_SERVICES``; to add names, pass
    ``{**DEFAULT_SERVICES, "orders.v1.Orders": "readyz"}``. ``List`` is not implemented
    (``UNIMPLEMENTED``). Runs on asyncio only, as grpc.aio does.
    """

    def __init__(
        self,
        health: Health,
        *,
        services: Mapping[str, str] = DEFAULT_SERVICES,
        watch_every: float | None = 5.0,
        watch_min_interval: float = 0.5,
    ) -> None:
        if not isinstance(health, Health):
            msg = f"HealthServicer takes a healthkit.Health, got {type(health).__name__}"
            raise TypeError(msg)
        self.health = health
        self.services: Mapping[str, str] = MappingProxyType(_validate_services(services))
        if watch_every is not None:
            require_seconds("HealthServicer", "watch_every", watch_every)
        require_seconds("HealthServicer", "watch_min_interval", watch_min_interval, allow_zero=True)
        self.watch_every = watch_every
        self.watch_min_interval = float(watch_min_interval)
        self._watched: dict[str, _Watched] = {}
        self._parked: set[asyncio.Future[None]] = set()  # watchers of an unknown service
        health.on_change(self._check_changed)
        health._lifecycle.subscribe(self._changed)
        health._warn_about_setup(sorted(set(self.services.values())))
        self._handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Check": grpc.unary_unary_rpc_method_handler(
                    self._check,
                    request_deserializer=_Request.FromString,
                    response_serializer=_Response.SerializeToString,
                ),
                "Watch": grpc.unary_stream_rpc_method_handler(
                    self._watch,
                    request_deserializer=_Request.FromString,
                    response_serializer=_Response.SerializeToString,
                ),
            },
        )

    def __repr__(self) -> str:
        return f"HealthServicer({self.health!r}, services={dict(self.services)!r})"

    def add_to(self, server: grpc.aio.Server) -> None:
        """Serve ``grpc.health.v1.Health`` on ``server`` (before ``server.start()``)."""
        server.add_generic_rpc_handlers((self._handler,))

    async def status(self, service: str = "") -> ServingStatus:
        """What ``Check`` answers for ``service`` now (``SERVICE_UNKNOWN`` for a name not served)."""
        endpoint = self.services.get(service)
        if endpoint is None:
            return _SERVICE_UNKNOWN
        return await self._serving(endpoint)

    def stop(self) -> None:
        """End every ``Watch`` stream: each watcher hears ``NOT_SERVING``, then the stream ends
        (clients call again, as the protocol says). Call it on the event loop, before stopping
        the server; later ``Watch`` calls are served as before."""
        watched, self._watched = self._watched, {}
        for each in watched.values():
            if each.task is not None:
                each.task.cancel()
            each.publish(_NOT_SERVING, closing=True)
        parked, self._parked = self._parked, set()
        for waiter in parked:
            if not waiter.done():
                waiter.set_result(None)

    # --- the two calls ---

    async def _check(self, request: _Request, context: _Context) -> _Response:
        endpoint = self.services.get(request.service)
        if endpoint is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {clip(request.service, 100)!r}")
        return _Response(status=await self._serving(endpoint))

    async def _watch(self, request: _Request, context: _Context) -> AsyncIterator[_Response]:
        endpoint = self.services.get(request.service)
        if endpoint is None:
            yield _Response(status=_SERVICE_UNKNOWN)
            waiter = asyncio.get_running_loop().create_future()
            self._parked.add(waiter)
            try:
                await waiter  # the service never becomes known: until the client or stop() ends it
            finally:
                self._parked.discard(waiter)
            return
        watched = self._join(endpoint)
        try:
            sent: ServingStatus | None = None
            while True:
                changed, status = watched.changed, watched.status
                if status is not None and status != sent:
                    yield _Response(status=status)
                    sent = status
                if watched.closed:
                    return
                await changed.wait()
        finally:
            self._leave(watched)

    async def _serving(self, endpoint: str) -> ServingStatus:
        try:
            report = await self.health.run(endpoint)
        except Exception:
            _log.exception("gRPC health: running %s failed; answering NOT_SERVING", endpoint)
            return _NOT_SERVING
        return _SERVING if 200 <= report.status_code < 300 else _NOT_SERVING

    # --- following an endpoint for its watchers ---

    def _join(self, endpoint: str) -> _Watched:
        loop = asyncio.get_running_loop()
        watched = self._watched.get(endpoint)
        if watched is None or watched.loop is not loop or watched.closed:
            watched = self._watched[endpoint] = _Watched(endpoint, loop)
            watched.task = loop.create_task(self._follow(watched))
        watched.watchers += 1
        return watched

    def _leave(self, watched: _Watched) -> None:
        watched.watchers -= 1
        if watched.watchers > 0:
            return
        if watched.task is not None:
            watched.task.cancel()
        if self._watched.get(watched.endpoint) is watched:
            del self._watched[watched.endpoint]

    async def _follow(self, watched: _Watched) -> None:
        """Run the endpoint, publish its status, wait for a change (or the poll), again."""
        loop = watched.loop
        while True:
            watched.due.clear()
            began = loop.time()
            watched.publish(await self._serving(watched.endpoint))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.watch_every):
                    await watched.due.wait()
            pause = began + self.watch_min_interval - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)  # changes meanwhile make one more run, not one each

    def _check_changed(self, change: StatusChange) -> None:
        # An endpoint's overall status changes only with a check's (or on a run of its own).
        if change.check is not None:
            self._changed()

    def _changed(self) -> None:
        """A check's status, readiness or the drain changed: every followed endpoint runs again.
        Called on any thread (a signal handler too); never blocks, never raises."""
        for watched in list(self._watched.values()):
            with contextlib.suppress(RuntimeError):  # that loop is closed
                watched.loop.call_soon_threadsafe(watched.due.set)


class HealthServer:
    """A ``grpc.aio`` server answering ``grpc.health.v1.Health`` (a ``HealthServicer``) on
    ``host:port``, beside the ASGI app in the same process and event loop.

    ``lifespan`` is a Starlette lifespan that runs the ``Health``'s (``health.running()``) and
    this server inside it; in a lifespan of the application's own, enter ``health.running()``
    and then ``grpc_health.running()``. ``port=0`` takes a free port, which ``port`` holds once
    serving. ``host`` is every address by default (``"[::]"``), as the kubelet probes the pod's
    address. ``credentials`` (``grpc.ssl_server_credentials(...)``) serves TLS (the kubelet's
    ``grpc:`` probes speak plaintext only). The other arguments are ``HealthServicer``'s.
    On trio the lifespan refuses to start: grpc.aio runs on asyncio only.
    """

    def __init__(
        self,
        health: Health,
        *,
        port: int,
        host: str = "[::]",
        services: Mapping[str, str] = DEFAULT_SERVICES,
        credentials: grpc.ServerCredentials | None = None,
        watch_every: float | None = 5.0,
        watch_min_interval: float = 0.5,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            msg = f"HealthServer port must be a whole number from 0 (any free port) to 65535, got {port!r}"
            raise ValueError(msg)
        if not isinstance(host, str) or not host or any(c.isspace() for c in host) or "/" in host:
            msg = f"HealthServer host must be an address or a name like '[::]' or '127.0.0.1', got {host!r}"
            raise ValueError(msg)
        if credentials is not None and not isinstance(credentials, grpc.ServerCredentials):
            given = type(credentials).__name__
            msg = f"HealthServer credentials must be grpc.ssl_server_credentials(...), got {given}"
            raise TypeError(msg)
        self.servicer = HealthServicer(
            health, services=services, watch_every=watch_every, watch_min_interval=watch_min_interval
        )
        self.health = health
        self.host = host
        self.port = port  # the port bound, once serving
        self._port = port
        self._credentials = credentials
        # In-flight Check calls end within their endpoint's deadline: the server waits that long.
        self._grace = max(health.settings.deadline_of(name) for name in ENDPOINTS) + 0.5
        self._serving = False

    def __repr__(self) -> str:
        return f"HealthServer({self.health!r}, port={self.port}, host={self.host!r})"

    def lifespan(self, app: object) -> AbstractAsyncContextManager[None]:
        """A Starlette lifespan: the Health's, and this server inside it."""
        return self._lifespan()

    def running(self) -> AbstractAsyncContextManager[None]:
        """Serve while inside: the server starts on entry and stops at exit (``Watch`` streams
        hear ``NOT_SERVING`` and end; ``Check`` calls in flight are let finish)."""
        return self._running()

    @asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        _require_asyncio()  # before the Health's lifespan starts anything
        async with self.health.running(), self._running():
            yield

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        _require_asyncio()
        if self._serving:
            msg = "This HealthServer is already serving; enter its lifespan once per application"
            raise RuntimeError(msg)
        server = grpc.aio.server()
        self.servicer.add_to(server)
        address = f"{self.host}:{self._port}"
        try:
            if self._credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, self._credentials)
        except RuntimeError:
            port = 0
        if not port:
            msg = f"healthkit.grpc cannot listen on {address}: the port is taken, or the host is not local"
            raise OSError(msg)
        await server.start()
        self._serving = True
        self.port = port
        _log.info("gRPC health service (%s) on %s:%s", SERVICE, self.host, port)
        try:
            yield
        finally:
            self._serving = False
            self.servicer.stop()
            with anyio.CancelScope(shield=True):
                await server.stop(self._grace)


def _require_asyncio() -> None:
    if asyncio_loop() is None:
        msg = (
            "healthkit.grpc serves on asyncio only (grpc.aio), not on this event loop (trio?): "
            "run the app on asyncio, or serve gRPC health from another process"
        )
        raise RuntimeError(msg)


def _validate_services(services: object) -> dict[str, str]:
    if not isinstance(services, Mapping):
        msg = f"services must map gRPC service names to endpoint names, got {type(services).__name__}"
        raise TypeError(msg)
    known = ", ".join(map(repr, ENDPOINTS))
    checked: dict[str, str] = {}
    for service, endpoint in services.items():
        if not isinstance(service, str):
            msg = f"services keys must be gRPC service names (strings; '' is the server), got {service!r}"
            raise TypeError(msg)
        if endpoint not in ENDPOINTS:
            msg = f"services maps {service!r} to {endpoint!r}, not an endpoint; the endpoints are {known}"
            raise ValueError(msg)
        checked[service] = endpoint
    return checked
