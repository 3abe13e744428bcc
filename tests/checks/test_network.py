"""tcp and http checks against real servers on loopback (started by the tests, on both backends)."""

from __future__ import annotations

import ssl
from pathlib import Path

import anyio
import anyio.abc
import httpx2
import pytest

from healthkit import Check, Health, Status
from healthkit_checks import http, tcp
from tests.checks.support import http_server, outcome, tls_server
from tests.conftest import probe


async def closed_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port: int = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    return port


async def test_tcp_passes_and_reports_the_connect_time() -> None:
    async with http_server() as port:
        item = await outcome(Check("web:responseTime", tcp.connect("127.0.0.1", port)))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]
    assert isinstance(item["observedValue"], float)


async def test_tcp_fails_saying_the_connection_was_refused() -> None:
    port = await closed_port()

    item = await outcome(Check("web", tcp.connect("127.0.0.1", port)))

    assert (f"cannot connect to 127.0.0.1:{port}: connection refused") == item["output"]


async def test_tcp_warns_past_its_threshold() -> None:
    async with http_server() as port:
        item = await outcome(Check("web", tcp.connect("127.0.0.1", port, warn_at=0)))

    assert "warn" == item["status"]


@pytest.mark.parametrize(("port", "host"), [(0, "x"), (70000, "x"), (80, "")])
def test_tcp_refuses_bad_targets(port: int, host: str) -> None:
    with pytest.raises(ValueError, match=r"tcp\.connect"):
        tcp.connect(host, port)


async def test_http_passes_on_an_expected_status() -> None:
    async with http_server() as port:
        item = await outcome(Check("web", http.get(f"http://127.0.0.1:{port}/ok")))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]


@pytest.mark.parametrize(("path", "code"), [("/missing", 404), ("/broken", 500)])
async def test_http_never_passes_a_dependencys_status_through(path: str, code: int) -> None:
    async with http_server() as port:
        url = f"http://user:s3cret@127.0.0.1:{port}{path}?token=abc"
        response_code, body = await probe(Health([Check("billing", http.get(url))]))

    item = body["checks"]["billing"][0]
    assert 503 == response_code  # healthkit's own fail status, whatever the dependency said
    assert f"GET http://127.0.0.1:{port}{path} returned {code}" == item["output"]


async def test_http_expected_statuses_are_configurable() -> None:
    async with http_server() as port:
        item = await outcome(Check("web", http.get(f"http://127.0.0.1:{port}/missing", expect={404})))

    assert "pass" == item["status"]


@pytest.mark.parametrize(("path", "status"), [("/health", Status.WARN), ("/health-up", Status.PASS)])
async def test_http_can_take_a_dependencys_health_json_status(path: str, status: Status) -> None:
    async with http_server() as port:
        item = await outcome(Check("web", http.get(f"http://127.0.0.1:{port}{path}", health_json=True)))

    assert status.value == item["status"]


async def test_http_names_a_refused_connection_plainly() -> None:
    port = await closed_port()

    item = await outcome(Check("web", http.get(f"http://127.0.0.1:{port}/ok")))

    assert f"GET http://127.0.0.1:{port}/ok: connection refused" == item["output"]


async def test_http_against_a_server_that_hangs_fails_at_the_checks_timeout() -> None:
    async with http_server() as port:
        started = anyio.current_time()
        item = await outcome(Check("web", http.get(f"http://127.0.0.1:{port}/hang"), timeout=0.3))

    assert "timed out after 0.3s" == item["output"]
    assert anyio.current_time() - started < 1


async def test_http_reuses_the_applications_client() -> None:
    import httpx2

    async with http_server() as port, httpx2.AsyncClient() as client:
        check = http.get(f"http://127.0.0.1:{port}/ok", client=client)
        first = await outcome(Check("web", check))
        second = await outcome(Check("web", check))
        still_open = not client.is_closed  # the check used the client, and left it to the app

    assert ("pass", "pass") == (first["status"], second["status"])
    assert still_open


def test_http_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="must be an http:// or https:// URL"):
        http.get("ftp://files.internal/")


async def test_http_names_a_rejected_tls_certificate(one_day_certificate: tuple[Path, Path]) -> None:
    async with tls_server(*one_day_certificate) as port:
        item = await outcome(Check("billing", http.get(f"https://127.0.0.1:{port}/ok")))

    assert (
        f"GET https://127.0.0.1:{port}/ok: TLS certificate rejected (self-signed certificate)"
        == item["output"]
    )


async def test_http_names_an_expired_certificate(expired_certificate: tuple[Path, Path, Path]) -> None:
    cert, key, issuer = expired_certificate
    async with (
        httpx2.AsyncClient(verify=ssl.create_default_context(cafile=str(issuer))) as client,
        tls_server(cert, key) as port,
    ):
        item = await outcome(Check("billing", http.get(f"https://127.0.0.1:{port}/ok", client=client)))

    assert (
        f"GET https://127.0.0.1:{port}/ok: TLS certificate rejected (certificate has expired)"
        == item["output"]
    )
