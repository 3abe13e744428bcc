"""The smtp check against a real Exim on loopback (tests/checks/daemons.py), which logs the
commands of every session: the tests read there what the check said, and that it sent no mail.

aiosmtplib runs on asyncio only, so these tests do too, but for the one that shows what happens on trio.
"""

from __future__ import annotations

import re
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from typing import Any

import aiosmtplib
import anyio
import pytest

from healthkit import Check, Health
from healthkit_checks import smtp
from tests.checks.daemons import USER, Exim, exim_server
from tests.checks.support import outage, outcome
from tests.conftest import probe
from tests.databases import PASSWORD

AnyCheck = Callable[[], Any]


@pytest.fixture(scope="session")
def exim() -> Iterator[Exim]:
    """One real Exim for the session; a test that stops it starts it again."""
    with exim_server() as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def trust(exim: Exim) -> ssl.SSLContext:
    """A context that trusts the test server's self-signed certificate."""
    return ssl.create_default_context(cafile=str(exim.certificate))


async def sessions(exim: Exim, since: int, count: int) -> list[str]:
    """The commands of the sessions Exim logged after the first `since`, once it logged `count`
    of them (Exim writes the line as the session ends, just after the check has its answer)."""
    with anyio.fail_after(5):
        while len(exim.sessions()) < since + count:
            await anyio.sleep(0.02)
    return exim.sessions()[since:]


Make = Callable[[Exim, ssl.SSLContext], AnyCheck]
SESSIONS: dict[str, tuple[str, Make]] = {
    "starttls=False": ("EHLO,NOOP,QUIT", lambda e, c: smtp.ping(e.url, starttls=False)),
    "STARTTLS offered": ("EHLO,STARTTLS,EHLO,NOOP,QUIT", lambda e, c: smtp.ping(e.url, context=c)),
    "login": ("EHLO,STARTTLS,EHLO,AUTH,NOOP,QUIT", lambda e, c: smtp.ping(e.login_url, context=c)),
    "smtps:// with a login": ("EHLO,AUTH,NOOP,QUIT", lambda e, c: smtp.ping(e.tls_url, context=c)),
    "no STARTTLS offered": ("EHLO,NOOP,QUIT", lambda e, c: smtp.ping(f"smtp://127.0.0.1:{e.plain_port}")),
    "aiosmtplib client": (
        "EHLO,STARTTLS,EHLO,AUTH,NOOP,QUIT",
        lambda e, c: smtp.ping(
            aiosmtplib.SMTP(
                hostname="127.0.0.1",
                port=e.port,
                start_tls=True,
                tls_context=c,
                username=USER,
                password=PASSWORD,
            )
        ),
    ),
}


@pytest.mark.parametrize("kind", list(SESSIONS))
async def test_smtp_passes_and_says_only_hello_noop_and_quit(
    exim: Exim, trust: ssl.SSLContext, kind: str
) -> None:
    commands, make = SESSIONS[kind]
    since = len(exim.sessions())

    item = await outcome(Check("smtp:responseTime", make(exim, trust)))

    assert ("pass", "ms") == (item["status"], item["observedUnit"])
    assert [commands] == await sessions(exim, since, 1)
    assert 0 == exim.received(), "no mail"


async def test_smtp_going_away_fails_readiness_and_coming_back_passes(
    exim: Exim, trust: ssl.SSLContext
) -> None:
    check = Check("smtp:responseTime", smtp.ping(exim.login_url, context=trust), timeout=0.5)
    await outage(exim, [check], {"connection refused"})


async def test_a_hung_smtp_server_times_out_plainly(exim: Exim, trust: ssl.SSLContext) -> None:
    check = Check("smtp", smtp.ping(exim.login_url, context=trust), timeout=0.5)
    exim.pause()
    try:
        started = anyio.current_time()
        hung = await outcome(check)
        elapsed = anyio.current_time() - started
    finally:
        exim.resume()
    again = await outcome(check)

    assert ("fail", "timed out after 0.5s") == (hung["status"], hung["output"])
    assert elapsed < 0.5 + 0.3
    assert "pass" == again["status"]


async def test_the_session_time_is_judged_against_the_thresholds(exim: Exim) -> None:
    item = await outcome(Check("smtp", smtp.ping(exim.url, starttls=False, warn_at=0)))

    assert "warn" == item["status"]
    assert re.fullmatch(r"the session took [0-9.]+ ms, at or above 0", str(item["output"]))


async def test_smtp_failures_are_named_without_the_password(
    exim: Exim, trust: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    plain = f"smtp://{USER}:{PASSWORD}@127.0.0.1:{exim.plain_port}"
    # Each check has 2 s, so a loaded machine cannot turn a reason into a timeout.
    checks = [
        Check(
            "wrong password",
            smtp.ping(exim.login_url.replace(PASSWORD, "not-the-" + PASSWORD), context=trust),
            timeout=2,
        ),
        Check("untrusted", smtp.ping(exim.login_url), timeout=2),
        Check("required", smtp.ping(f"smtp://127.0.0.1:{exim.plain_port}", starttls=True), timeout=2),
        Check("no TLS for the login", smtp.ping(plain), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    where, plain_where = f"smtp at 127.0.0.1:{exim.port}", f"smtp at 127.0.0.1:{exim.plain_port}"
    assert {
        "wrong password": f"{where}: authentication failed",
        "untrusted": f"{where}: TLS certificate rejected (self-signed certificate)",
        "required": f"{plain_where}: the server does not offer STARTTLS",
        "no TLS for the login": f"{plain_where}: the server does not offer STARTTLS, and the check logs"
        " in over TLS only",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert PASSWORD not in str(body) + caplog.text
    assert USER not in str(body) + caplog.text


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_smtp_fails_plainly_on_trio(exim: Exim) -> None:
    code, body = await probe(Health([Check("smtp", smtp.ping(exim.url))]))

    assert 503 == code
    assert "smtp.ping runs on asyncio only, not on this event loop" == body["checks"]["smtp"][0]["output"]


def test_smtp_refuses_what_it_cannot_check() -> None:
    with pytest.raises(ValueError, match="not an smtp:// or smtps:// URL") as refused:
        smtp.ping(f"http://app:{PASSWORD}@mail")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match="starttls=True is for smtp:// URLs"):
        smtp.ping("smtps://mail", starttls=True)
    with pytest.raises(ValueError, match="logs in over TLS only") as refused:
        smtp.ping(f"smtp://app:{PASSWORD}@mail:587", starttls=False)
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match="needs both a user and a password") as refused:
        smtp.ping(f"smtp://{PASSWORD}@mail:587")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match="with no path or options"):
        smtp.ping("smtp://mail:25/?timeout=1")
    with pytest.raises(ValueError, match="the URL cannot be read") as refused:
        smtp.ping(f"smtp://app:{PASSWORD}@mail:port")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match="starttls must be True, False or None"):
        smtp.ping("smtp://mail", starttls="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="its own settings apply"):
        smtp.ping(aiosmtplib.SMTP(hostname="mail"), starttls=True)
    with socket.socket() as sock, pytest.raises(ValueError, match=r"a connected socket \(sock=\)"):
        smtp.ping(aiosmtplib.SMTP(sock=sock))
    with pytest.raises(
        TypeError, match=r"expected an smtp:// or smtps:// URL or an aiosmtplib\.SMTP client, got int"
    ):
        smtp.ping(25)
    with pytest.raises(ValueError, match="warn_at"):
        smtp.ping("smtp://mail", warn_at=100, fail_at=10)


def test_a_missing_driver_names_the_smtp_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiosmtplib", None)

    with pytest.raises(ImportError, match=r"pip install 'healthkit-asgi\[smtp\]'"):
        smtp.ping("smtp://mail")
