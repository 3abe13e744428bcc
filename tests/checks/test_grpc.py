"""grpc.check against real gRPC servers on loopback: healthkit's own gRPC health service beside an
app under uvicorn (tests/apps/grpc_app.py), and grpc.aio servers started here (no health service,
one that never answers, one with TLS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import grpc
import grpc.aio
import pytest

from healthkit import Check, Health
from healthkit.grpc import HealthServer
from healthkit_checks import grpc as grpc_check
from tests.checks.support import outcome
from tests.grpc_serving import GrpcApp
from tests.servers import free_port

#: gRPC's own words for failures, which must never reach an output.
RAW = (
    "failed to connect to all addresses",
    "ipv4:",
    "Failed to connect to remote host",
    "errors resolving",
    "Domain name not found",
    "SSL_ERROR",
    "Method not found",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Upstream:
    """tests/apps/grpc_app.py under uvicorn, on one gRPC port: stopped and started again by tests."""

    def __init__(self) -> None:
        self.app = GrpcApp()
        self.target = f"127.0.0.1:{self.app.grpc_port}"

    def restart(self) -> None:
        self.app.stop()
        self.app = GrpcApp(grpc_port=self.app.grpc_port)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    served = Upstream()
    try:
        yield served
    finally:
        served.app.stop()


@pytest.fixture
async def passing(upstream: Upstream) -> AsyncIterator[Upstream]:
    """The upstream, serving: its check passes (as it is left for the next test too)."""
    if upstream.app.process.poll() is not None:
        upstream.restart()
    await upstream.app.send("POST", "/db/pass")
    yield upstream
    if upstream.app.process.poll() is None:
        await upstream.app.send("POST", "/db/pass")


def check_named(fn: Any, timeout: float = 0.5) -> Check:
    return Check("upstream:grpc", fn, component_type="component", external=True, timeout=timeout)


async def test_passes_when_the_upstream_is_serving(passing: Upstream) -> None:
    item = await outcome(check_named(grpc_check.check(passing.target)))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]
    assert float(item["observedValue"]) >= 0  # type: ignore[arg-type]


async def test_asks_for_the_service_named(passing: Upstream) -> None:
    # The upstream maps "liveness" to its /livez checks, which pass while its database fails.
    await passing.app.send("POST", "/db/fail")
    live = await outcome(check_named(grpc_check.check(passing.target, service="liveness")))
    ready = await outcome(check_named(grpc_check.check(passing.target, service="readiness")))

    assert "pass" == live["status"]
    assert "fail" == ready["status"]


async def test_fails_when_the_upstream_answers_not_serving(passing: Upstream) -> None:
    await passing.app.send("POST", "/db/fail")
    item = await outcome(check_named(grpc_check.check(passing.target)))

    assert "fail" == item["status"]
    assert f"gRPC health of {passing.target}: not serving (NOT_SERVING)" == item["output"]


async def test_fails_when_the_upstream_does_not_know_the_service(passing: Upstream) -> None:
    item = await outcome(check_named(grpc_check.check(passing.target, service="orders.v1.Orders")))

    expected = (
        f"gRPC health of {passing.target} (service 'orders.v1.Orders'): "
        "the server does not know the service 'orders.v1.Orders' (NOT_FOUND)"
    )
    assert "fail" == item["status"]
    assert expected == item["output"]


async def test_fails_plainly_when_stopped_and_passes_again_when_back(passing: Upstream) -> None:
    check = check_named(grpc_check.check(passing.target))
    passing.app.stop()
    started = anyio.current_time()
    stopped = await outcome(check)
    took = anyio.current_time() - started
    passing.restart()
    back = await outcome(check)

    assert "fail" == stopped["status"]
    assert f"gRPC health of {passing.target}: unreachable: connection refused" == stopped["output"]
    assert took < 1.0
    assert "pass" == back["status"]


async def test_reuses_the_applications_own_channel(passing: Upstream) -> None:
    async with grpc.aio.insecure_channel(passing.target) as channel:
        check = check_named(grpc_check.check(channel))
        first = await outcome(check)
        await passing.app.send("POST", "/db/fail")
        second = await outcome(check)

    assert "pass" == first["status"]
    assert ("fail", "gRPC health: not serving (NOT_SERVING)") == (second["status"], second["output"])


# --- servers started here ---


@asynccontextmanager
async def grpc_server(*handlers: grpc.GenericRpcHandler) -> AsyncIterator[str]:
    """A grpc.aio server on a free loopback port with these handlers only: its target."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(handlers)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_fails_when_the_server_has_no_health_service() -> None:
    async with grpc_server() as target:
        item = await outcome(check_named(grpc_check.check(target)))

    expected = f"gRPC health of {target}: no health service: the server does not implement grpc.health.v1"
    assert "fail" == item["status"]
    assert f"{expected} (UNIMPLEMENTED)" == item["output"]


def hanging() -> grpc.GenericRpcHandler:
    """A Health/Check that never answers."""

    async def never(request: bytes, context: Any) -> bytes:
        await anyio.sleep_forever()
        return b""

    method: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(never)
    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": method})


async def test_fails_at_its_grpc_deadline_when_the_server_does_not_answer() -> None:
    async with grpc_server(hanging()) as target:
        item = await outcome(check_named(grpc_check.check(target, timeout=0.2)))

    assert "fail" == item["status"]
    assert (
        f"gRPC health of {target}: deadline exceeded: no answer within 0.2s (DEADLINE_EXCEEDED)"
        == (item["output"])
    )


async def test_without_a_grpc_deadline_the_checks_timeout_cuts_the_call() -> None:
    async with grpc_server(hanging()) as target:
        item = await outcome(check_named(grpc_check.check(target), timeout=0.2))

    assert "fail" == item["status"]
    assert "timed out after 0.2s" == item["output"]


async def test_tls_with_the_servers_certificate_authority(one_day_certificate: tuple[Path, Path]) -> None:
    cert, key = one_day_certificate
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    server = HealthServer(Health([]), port=0, host="127.0.0.1", credentials=credentials)

    async with server.running():
        target = f"127.0.0.1:{server.port}"
        trusted = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        verified = await outcome(check_named(grpc_check.check(target, tls=trusted)))
        system = await outcome(check_named(grpc_check.check(target, tls=True)))
        plaintext = await outcome(check_named(grpc_check.check(target)))

    assert "pass" == verified["status"]
    assert ("fail", f"gRPC health of {target}: unreachable: the TLS handshake failed") == (
        system["status"],
        system["output"],
    )
    assert "fail" == plaintext["status"]
    assert str(plaintext["output"]).startswith(f"gRPC health of {target}: unreachable: ")


async def test_a_name_that_does_not_resolve() -> None:
    item = await outcome(check_named(grpc_check.check("no-such-host.invalid:50051")))

    assert ("fail", "gRPC health of no-such-host.invalid:50051: unreachable: the name does not resolve") == (
        item["status"],
        item["output"],
    )


async def test_no_grpc_text_in_any_output() -> None:
    closed = free_port()
    outputs = []
    async with grpc_server() as target:
        for fn in (
            grpc_check.check(f"127.0.0.1:{closed}"),
            grpc_check.check("no-such-host.invalid:50051"),
            grpc_check.check(target),
            grpc_check.check(target, tls=True),
        ):
            outputs.append(str((await outcome(check_named(fn)))["output"]))

    leaked = [(output, raw) for output in outputs for raw in RAW if raw in output]
    assert [] == leaked


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_it_fails_saying_it_needs_asyncio() -> None:
    item = await outcome(check_named(grpc_check.check("127.0.0.1:50051")))

    assert ("fail", "grpc.check runs on asyncio only, not on this event loop") == (
        item["status"],
        item["output"],
    )


# --- settings checked when the check is made ---


@pytest.mark.parametrize(
    ("target", "settings", "error"),
    [
        ("billing", {}, "target must be 'host:port' (an IPv6 address in brackets: '[::1]:50051')"),
        ("billing:0", {}, "with a port from 1 to 65535, got 'billing:0'"),
        ("billing:http", {}, "got 'billing:http'"),
        ("::1:50051", {}, "got '::1:50051'"),
        ("http://billing:50051", {}, "got 'http://billing:50051'"),
        ("user@billing:50051", {}, "got 'user@billing:50051'"),
        (50051, {}, "expected 'host:port' or a grpc.aio.Channel, got int"),
        ("billing:50051", {"tls": "yes"}, "tls must be True, False or grpc.ChannelCredentials, got str"),
        ("billing:50051", {"service": None}, "service must be a string ('' for the server's overall health)"),
        ("billing:50051", {"timeout": 0}, "timeout must be a positive number of seconds or None, got 0"),
        ("billing:50051", {"warn_at": 10, "fail_at": 5}, "warn_at (10) must not be above fail_at (5)"),
    ],
)
def test_settings_are_checked_when_the_check_is_made(
    target: Any, settings: dict[str, Any], error: str
) -> None:
    with pytest.raises((ValueError, TypeError)) as raised:
        grpc_check.check(target, **settings)

    assert error in str(raised.value)


def test_ipv6_targets_in_brackets_are_taken() -> None:
    assert callable(grpc_check.check("[::1]:50051"))


def test_a_synchronous_channel_is_refused_with_a_hint() -> None:
    channel = grpc.insecure_channel("127.0.0.1:50051")
    try:
        with pytest.raises(TypeError, match=r"got Channel \(a synchronous channel: use grpc.aio\)"):
            grpc_check.check(channel)
    finally:
        channel.close()


async def test_tls_belongs_to_a_given_channel() -> None:
    async with grpc.aio.insecure_channel("127.0.0.1:50051") as channel:
        with pytest.raises(ValueError, match="tls is the channel's own setting"):
            grpc_check.check(channel, tls=True)
