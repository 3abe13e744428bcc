"""dns and tls checks, against this machine's resolver and a TLS server on loopback."""

from __future__ import annotations

import re
import ssl
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from healthkit import Check
from healthkit_checks import dns, tls
from tests.checks.support import outcome, tls_server


async def test_dns_resolves_a_name_and_reports_how_long_it_took() -> None:
    item = await outcome(Check("dns:responseTime", dns.resolve("localhost")))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]


async def test_dns_fails_when_a_name_does_not_resolve() -> None:
    item = await outcome(Check("dns", dns.resolve("nonexistent.invalid")))

    assert "nonexistent.invalid does not resolve" == item["output"]


@pytest.mark.parametrize(
    ("warn_at", "fail_at", "status"), [(30, 7, "fail"), (2, 0.5, "warn"), (None, None, "pass")]
)
async def test_tls_reports_the_days_left_against_its_thresholds(
    one_day_certificate: tuple[Path, Path], warn_at: float | None, fail_at: float | None, status: str
) -> None:
    cert, key = one_day_certificate
    trust = ssl.create_default_context(cafile=str(cert))

    async with tls_server(cert, key) as port:
        check = tls.expiry("127.0.0.1", port, warn_at=warn_at, fail_at=fail_at, context=trust)
        item = await outcome(Check("web:certificate", check))

    assert status == item["status"]
    assert "days" == item["observedUnit"]
    assert 0.9 <= float(item["observedValue"]) <= 1.0  # type: ignore[arg-type]


async def test_tls_reads_the_certificate_of_a_server_that_closes_without_close_notify(
    one_day_certificate: tuple[Path, Path],
) -> None:
    cert, key = one_day_certificate
    trust = ssl.create_default_context(cafile=str(cert))

    async with tls_server(cert, key, close_notify=False) as port:
        check = tls.expiry("127.0.0.1", port, warn_at=None, fail_at=None, context=trust)
        item = await outcome(Check("web:certificate", check))

    assert ("pass", "days") == (item["status"], item["observedUnit"])


async def test_tls_fails_on_a_certificate_the_system_does_not_trust(
    one_day_certificate: tuple[Path, Path],
) -> None:
    cert, key = one_day_certificate

    async with tls_server(cert, key) as port:
        item = await outcome(Check("web:certificate", tls.expiry("127.0.0.1", port)))

    assert f"127.0.0.1:{port}: TLS certificate rejected (self-signed certificate)" == item["output"]


async def test_tls_fails_on_an_expired_certificate_from_a_trusted_issuer(
    expired_certificate: tuple[Path, Path, Path],
) -> None:
    cert, key, issuer = expired_certificate
    trust = ssl.create_default_context(cafile=str(issuer))

    async with tls_server(cert, key) as port:
        item = await outcome(Check("web:certificate", tls.expiry("127.0.0.1", port, context=trust)))

    assert "fail" == item["status"]
    assert f"127.0.0.1:{port}: TLS certificate rejected (certificate has expired)" == item["output"]


def test_tls_thresholds_must_be_in_order() -> None:
    with pytest.raises(ValueError, match=r"warn_at .* must not be below fail_at"):
        tls.expiry("example.test", warn_at=5, fail_at=10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warn_at": -1}, "warn_at must be a finite number of days, 0 or more, or None, got -1"),
        ({"fail_at": float("nan")}, "fail_at must be a finite number of days, 0 or more, or None, got nan"),
        ({"warn_at": float("inf")}, "warn_at must be a finite number of days, 0 or more, or None, got inf"),
        ({"fail_at": True}, "fail_at must be a finite number of days, 0 or more, or None, got True"),
        ({"warn_at": "30"}, "warn_at must be a finite number of days, 0 or more, or None, got '30'"),
        ({"port": 0}, "port must be a whole number from 1 to 65535, got 0"),
        ({"port": 65536}, "port must be a whole number from 1 to 65535, got 65536"),
        ({"port": "443"}, "port must be a whole number from 1 to 65535, got '443'"),
        ({"port": True}, "port must be a whole number from 1 to 65535, got True"),
        ({"port": 443.0}, "port must be a whole number from 1 to 65535, got 443.0"),
    ],
)
def test_tls_refuses_bad_thresholds_and_ports_naming_the_value(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"tls.expiry: {message}")):
        tls.expiry("example.test", **kwargs)


def test_tls_accepts_zero_and_none_thresholds() -> None:
    tls.expiry("example.test", 1, warn_at=0, fail_at=0)
    tls.expiry("example.test", 65535, warn_at=None, fail_at=None)


async def test_tls_closes_its_connection_when_cancelled_mid_handshake() -> None:
    hello, closed = anyio.Event(), anyio.Event()

    async def never_answer(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()  # the ClientHello, never answered
            hello.set()
            with suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while True:
                    await stream.receive()
            closed.set()  # the client closed its end

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, never_answer)
        with anyio.move_on_after(0.5) as timeout:  # the check's timeout, as the runner applies it
            await tls.expiry("127.0.0.1", port)()
        with anyio.move_on_after(2):
            await closed.wait()
        group.cancel_scope.cancel()

    assert timeout.cancelled_caught
    assert hello.is_set()  # cancelled during the handshake, not while connecting
    assert closed.is_set()
