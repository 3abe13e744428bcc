"""healthkit.grpc: the grpc.health.v1 service answered from a Health's endpoints, called by a real
grpcio client, started and stopped by a real lifespan (in process, and under uvicorn)."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import grpc
import grpc.aio
import pytest
from starlette.applications import Starlette

from healthkit import Check, Health, Probe, Result, Status
from healthkit.grpc import DEFAULT_SERVICES, HealthServer, HealthServicer
from tests.conftest import lifespan
from tests.grpc_serving import GrpcApp, Watch, check


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # grpc.aio runs on asyncio only; the trio tests say so themselves


class Switch:
    """A check whose status the test sets; counts its calls."""

    def __init__(self, status: Status = Status.PASS) -> None:
        self.status = status
        self.calls = 0

    async def __call__(self) -> Result:
        self.calls += 1
        return Result(self.status, output=f"set to {self.status.value}")


class Service:
    """A Health with readiness (``db``), liveness (``process``) and startup (``migrations``)
    checks the test sets, served over gRPC by a HealthServer on a free port."""

    def __init__(self, **settings: Any) -> None:
        self.db = Switch()
        self.process = Switch()
        self.migrations = Switch()
        health_settings = {k: v for k, v in settings.items() if k in {"status_codes", "readiness"}}
        self.health = Health(
            [
                Check("db", self.db),
                Check("process", self.process, tags={"live"}),
                Check("migrations", self.migrations, tags={"startup"}),
            ],
            drain_delay=30,
            **health_settings,
        )
        server_settings = {k: v for k, v in settings.items() if k not in health_settings}
        server_settings.setdefault("watch_min_interval", 0)
        self.server = HealthServer(self.health, port=0, host="127.0.0.1", **server_settings)
        self.app = Starlette(routes=self.health.routes(), lifespan=self.server.lifespan)

    @property
    def port(self) -> int:
        return self.server.port

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        async with lifespan(self.app):
            yield self


async def drain(health: Health, group: anyio.abc.TaskGroup) -> None:
    """Begin the drain as a SIGTERM would, through health.shutdown_trigger (hypercorn's hook)."""
    before = signal.getsignal(signal.SIGTERM)
    group.start_soon(health.shutdown_trigger)
    with anyio.fail_after(2):
        while signal.getsignal(signal.SIGTERM) == before:
            await anyio.sleep(0.001)
    os.kill(os.getpid(), signal.SIGTERM)
    with anyio.fail_after(2):
        while not health._lifecycle.draining:
            await anyio.sleep(0.001)


# --- Check, in each state ---

STATES: dict[str, Callable[[Service], None]] = {
    "pass": lambda s: None,
    "warn": lambda s: setattr(s.db, "status", Status.WARN),
    "fail": lambda s: setattr(s.db, "status", Status.FAIL),
    "starting": lambda s: setattr(s.migrations, "status", Status.FAIL),
    "not ready": lambda s: s.health.set_ready(False, "maintenance"),
}


@pytest.mark.parametrize(
    ("state", "overall", "readiness", "liveness", "startup"),
    [
        ("pass", "SERVING", "SERVING", "SERVING", "SERVING"),
        ("warn", "SERVING", "SERVING", "SERVING", "SERVING"),
        ("fail", "NOT_SERVING", "NOT_SERVING", "SERVING", "SERVING"),
        ("starting", "NOT_SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING"),
        ("not ready", "NOT_SERVING", "NOT_SERVING", "SERVING", "SERVING"),
    ],
)
async def test_check_answers_as_the_endpoint_a_service_name_maps_to(
    state: str, overall: str, readiness: str, liveness: str, startup: str
) -> None:
    service = Service()
    STATES[state](service)

    async with service.running():
        answers = [await check(service.port, name) for name in ("", "readiness", "liveness", "startup")]
        by_endpoint = [await check(service.port, name) for name in ("readyz", "livez", "startupz")]

    assert [overall, readiness, liveness, startup] == answers
    assert [readiness, liveness, startup] == by_endpoint


async def test_check_answers_not_serving_while_draining_and_liveness_still_serving() -> None:
    service = Service()

    async with service.running(), anyio.create_task_group() as group:
        before = await check(service.port)
        await drain(service.health, group)
        during = [await check(service.port, name) for name in ("", "readiness", "liveness", "startup")]
        group.cancel_scope.cancel()

    assert "SERVING" == before
    assert ["NOT_SERVING", "NOT_SERVING", "SERVING", "SERVING"] == during


async def test_startup_completes_through_grpc_and_readiness_serves_then() -> None:
    service = Service()
    service.migrations.status = Status.FAIL

    async with service.running():
        starting = await check(service.port)
        service.migrations.status = Status.PASS
        started = await check(service.port, "startup")
        ready = await check(service.port)

    assert ("NOT_SERVING", "SERVING", "SERVING") == (starting, started, ready)


async def test_warn_answers_as_the_endpoints_status_codes_map_it() -> None:
    # The draft allows warn in 200-399: a warn mapped to 3xx is not a 2xx, so not serving.
    service = Service(readiness=Probe(status_codes={"pass": 200, "warn": 300, "fail": 503}))
    service.db.status = Status.WARN

    async with service.running():
        readiness = await check(service.port, "readiness")
        report = await check(service.port, "health")  # the Health's own mapping: warn is 200

    assert "NOT_SERVING" == readiness
    assert "SERVING" == report


async def test_an_unknown_service_is_not_found_and_a_watch_of_it_stays_open_unknown() -> None:
    service = Service()

    async with service.running():
        answer = await check(service.port, "orders.v1.Orders")
        async with Watch(service.port, "orders.v1.Orders") as watch:
            first = await watch.next()
            await check(service.port)  # a round trip later, the stream is still open
            still_open = watch.open()

    assert "NOT_FOUND" == answer
    assert "SERVICE_UNKNOWN" == first
    assert still_open


async def test_services_maps_names_of_the_applications_choosing() -> None:
    service = Service(services={"orders.v1.Orders": "readyz", "": "livez"})
    service.db.status = Status.FAIL

    async with service.running():
        answers = {name: await check(service.port, name) for name in ("orders.v1.Orders", "", "readiness")}

    assert {"orders.v1.Orders": "NOT_SERVING", "": "SERVING", "readiness": "NOT_FOUND"} == answers


async def test_list_is_not_implemented() -> None:
    service = Service()

    async with service.running(), grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/grpc.health.v1.Health/List"
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"", timeout=5)

    assert grpc.StatusCode.UNIMPLEMENTED == raised.value.code()


# --- Watch ---


async def test_watch_sees_each_transition_in_order_as_it_happens() -> None:
    # No polling: only what happens to the checks, readiness and the drain moves the watch.
    service = Service(watch_every=None)
    seen: list[str] = []

    async with service.running(), anyio.create_task_group() as group, Watch(service.port) as watch:
        seen.append(await watch.next())
        service.db.status = Status.FAIL
        await service.health.run("readyz")  # a probe runs the check (an HTTP one, or Check)
        seen.append(await watch.next())
        service.db.status = Status.PASS
        await service.health.run("readyz")
        seen.append(await watch.next())
        service.health.set_ready(False, "maintenance")
        seen.append(await watch.next())
        service.health.set_ready(True)
        seen.append(await watch.next())
        await drain(service.health, group)
        seen.append(await watch.next())
        group.cancel_scope.cancel()

    assert ["SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING"] == seen


async def test_watch_sends_nothing_while_the_status_stays_the_same() -> None:
    service = Service(watch_every=None)

    async with service.running(), Watch(service.port) as watch:
        first = await watch.next()
        service.db.status = Status.WARN  # pass to warn: still 200, still serving
        await service.health.run("readyz")
        service.health.set_ready(True)  # ready already
        service.db.status = Status.FAIL
        await service.health.run("readyz")
        second = await watch.next()

    assert ("SERVING", "NOT_SERVING") == (first, second)


async def test_watch_runs_the_endpoint_every_watch_every_when_nothing_else_does() -> None:
    service = Service(watch_every=0.05)

    async with service.running(), Watch(service.port) as watch:
        first = await watch.next()
        service.db.status = Status.FAIL  # nothing runs the check but the watch's own poll
        second = await watch.next()

    assert ("SERVING", "NOT_SERVING") == (first, second)


async def test_watchers_of_one_endpoint_share_its_runs() -> None:
    service = Service(watch_every=None)

    async with service.running():
        watches = [Watch(service.port, name) for name in ("", "readiness") * 10]
        firsts = [await watch.next() for watch in watches]
        service.db.status = Status.FAIL
        await service.health.run("readyz")
        seconds = [await watch.next() for watch in watches]
        for watch in watches:
            await watch.__aexit__(None, None, None)

    assert ["SERVING"] * 20 == firsts
    assert ["NOT_SERVING"] * 20 == seconds
    # One run for all 20 watchers, one more after the check's first status, and one per change
    # (the probe above and the rerun it caused): never one per watcher.
    assert service.db.calls <= 5


async def test_a_flapping_check_reruns_the_endpoint_at_most_once_per_watch_min_interval() -> None:
    flips = 0

    async def flapping() -> Result:
        nonlocal flips
        flips += 1
        return Result(Status.PASS if flips % 2 else Status.FAIL)

    flaky = Health([Check("db", flapping)])
    server = HealthServer(flaky, port=0, host="127.0.0.1", watch_every=None, watch_min_interval=0.2)

    async with lifespan(Starlette(lifespan=server.lifespan)):
        watches = [Watch(server.port) for _ in range(3)]
        for watch in watches:
            await watch.next()
        began = time.monotonic()
        await anyio.sleep(1.0)
        runs = flips
        elapsed = time.monotonic() - began
        for watch in watches:
            await watch.__aexit__(None, None, None)

    # Each run changes the status, and each change asks for another run: without the interval
    # that is a busy loop; with it, one run per 0.2 s, whatever the number of watchers.
    assert 2 <= runs <= elapsed / 0.2 + 3


async def test_stopping_the_server_ends_each_watch_with_not_serving() -> None:
    service = Service(watch_every=None)

    async with service.running():
        watch = Watch(service.port)
        first = await watch.next()
        unknown = Watch(service.port, "orders.v1.Orders")
        await unknown.next()
    last = await watch.next()
    end = await watch.next()
    unknown_end = await unknown.next()
    await watch.__aexit__(None, None, None)
    await unknown.__aexit__(None, None, None)

    assert ("SERVING", "NOT_SERVING", "END OK") == (first, last, end)
    assert "END OK" == unknown_end


# --- the application's own server ---


async def test_the_servicer_answers_on_the_applications_own_grpc_server() -> None:
    db = Switch(Status.FAIL)
    health = Health([Check("db", db)])
    servicer = HealthServicer(health, watch_every=None, watch_min_interval=0)
    server = grpc.aio.server()
    servicer.add_to(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with health.running():
            answers = [await check(port, name) for name in ("", "liveness", "nope")]
            async with Watch(port) as watch:
                first = await watch.next()
                servicer.stop()
                end = await watch.next()
    finally:
        await server.stop(None)

    assert ["NOT_SERVING", "SERVING", "NOT_FOUND"] == answers
    assert ("NOT_SERVING", "END OK") == (first, end)


async def test_status_gives_what_check_answers() -> None:
    health = Health([Check("db", Switch(Status.FAIL))])
    servicer = HealthServicer(health)

    answers = [await servicer.status(name) for name in ("", "liveness", "nope")]

    assert [grpc_status("NOT_SERVING"), grpc_status("SERVING"), grpc_status("SERVICE_UNKNOWN")] == answers


def grpc_status(name: str) -> int:
    from grpc_health.v1 import health_pb2

    return int(health_pb2.HealthCheckResponse.ServingStatus.Value(name))


# --- starting and stopping ---


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_the_lifespan_refuses_to_start_and_says_why() -> None:
    server = HealthServer(Health([]), port=0)
    messages: list[dict[str, Any]] = []
    inbox = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        return next(inbox)

    async def send(message: Any) -> None:
        messages.append(message)

    app = Starlette(lifespan=server.lifespan)
    with pytest.raises(RuntimeError) as raised:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    assert "healthkit.grpc serves on asyncio only (grpc.aio)" in str(raised.value)
    assert "lifespan.startup.failed" == messages[0]["type"]
    assert "asyncio only" in messages[0]["message"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_a_port_in_use_fails_at_startup_naming_the_address(taken_port: int) -> None:
    server = HealthServer(Health([]), port=taken_port, host="127.0.0.1")

    with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{taken_port}: the port is taken"):
        async with server.running():
            pass


async def test_the_lifespan_starts_the_server_and_stops_it() -> None:
    service = Service()

    async with service.running():
        during = await check(service.port)
    after = await check(service.port)

    assert "SERVING" == during
    assert "UNAVAILABLE" == after


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"port": -1}, "port must be a whole number from 0 (any free port) to 65535, got -1"),
        ({"port": 65536}, "got 65536"),
        ({"port": "50051"}, "got '50051'"),
        ({"port": True}, "got True"),
        ({"host": ""}, "host must be an address or a name like '[::]' or '127.0.0.1', got ''"),
        ({"host": "0.0.0.0:50051/x"}, "got '0.0.0.0:50051/x'"),
        ({"services": {"": "ready"}}, "services maps '' to 'ready', not an endpoint; the endpoints are "),
        ({"services": {"x": "liveness"}}, "'health', 'livez', 'readyz', 'startupz'"),
        ({"services": {1: "readyz"}}, "services keys must be gRPC service names"),
        ({"services": ["readyz"]}, "services must map gRPC service names to endpoint names"),
        ({"watch_every": 0}, "watch_every must be a positive, finite number of seconds, got 0"),
        ({"watch_min_interval": -1}, "watch_min_interval must be a non-negative"),
        ({"credentials": "tls"}, "credentials must be grpc.ssl_server_credentials(...), got str"),
    ],
)
def test_misconfiguration_fails_at_construction_naming_the_value(
    settings: dict[str, Any], error: str
) -> None:
    arguments: dict[str, Any] = {"port": 50051, **settings}

    with pytest.raises((ValueError, TypeError)) as raised:
        HealthServer(Health([]), **arguments)

    assert error in str(raised.value)


def test_a_health_is_required() -> None:
    with pytest.raises(TypeError, match=r"HealthServicer takes a healthkit\.Health, got Starlette"):
        HealthServicer(Starlette())  # type: ignore[arg-type]


def test_the_default_service_names() -> None:
    assert {
        "": "readyz",
        "liveness": "livez",
        "readiness": "readyz",
        "startup": "startupz",
        "health": "health",
        "livez": "livez",
        "readyz": "readyz",
        "startupz": "startupz",
    } == dict(DEFAULT_SERVICES)


def test_without_grpcio_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "healthkit.grpc")
    monkeypatch.setitem(sys.modules, "grpc_health.v1", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "grpc_health.v1.health_pb2", None)

    with pytest.raises(ImportError, match=r"pip install 'healthkit-asgi\[grpc\]'"):
        importlib.import_module("healthkit.grpc")


# --- under uvicorn ---


async def test_under_uvicorn_grpc_answers_from_the_same_checks_through_the_drain() -> None:
    app = GrpcApp(drain_delay=2)
    try:
        answers: list[tuple[str, str]] = []
        async with Watch(app.grpc_port) as watch:
            seen = [await watch.next()]
            await app.send("POST", "/db/fail")
            answers.append((await check(app.grpc_port), str(await app.send("GET", "/readyz"))))
            seen.append(await watch.next())
            await app.send("POST", "/db/warn")
            answers.append((await check(app.grpc_port), str(await app.send("GET", "/readyz"))))
            seen.append(await watch.next())
            await app.send("DELETE", "/ready")
            seen.append(await watch.next())
            answers.append((await check(app.grpc_port), str(await app.send("GET", "/readyz"))))
            await app.send("POST", "/ready")
            seen.append(await watch.next())
            app.signal(signal.SIGTERM)
            seen.append(await watch.next())
            draining = [await check(app.grpc_port, name) for name in ("", "liveness")]
            seen.append(await watch.next())  # the server stops after the drain: the stream ends
        await app.exited(10)
    finally:
        app.stop()

    assert [("NOT_SERVING", "503"), ("SERVING", "200"), ("NOT_SERVING", "503")] == answers
    assert ["SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING", "END OK"] == seen
    assert ["NOT_SERVING", "SERVING"] == draining
