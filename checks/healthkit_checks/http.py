"""HTTP: a dependency answers, with a status it should.

    Check("billing:responseTime", http.get("https://billing.internal/health", client=client))

Never passes a dependency's status through as its own: a 404 or a 500 from the dependency makes
this check fail with output like ``GET https://billing.internal/health returned 404``. URLs in
outputs carry no credentials and no query string. Needs the ``http`` extra (httpx2).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from healthkit import Result, Status

from ._drivers import where
from ._levels import judge, require_levels
from .tcp import exception_chain, reason

if TYPE_CHECKING:
    import httpx2

__all__ = ["get"]


def _httpx2() -> Any:
    try:
        import httpx2
    except ImportError as exc:
        msg = "healthkit_checks.http needs httpx2: pip install 'healthkit-asgi[http]'"
        raise ImportError(msg) from exc
    return httpx2


def public(url: str) -> str:
    """``url`` without user information and without query string or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def get(
    url: str,
    *,
    client: httpx2.AsyncClient | None = None,
    expect: Collection[int] = range(200, 300),
    warn_at: float | None = None,
    fail_at: float | None = None,
    health_json: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Callable[[], Awaitable[Result]]:
    """A check that sends ``GET url`` and judges the answer.

    ``client``: the application's own httpx2 client (its connection pool is reused); without
    one, each call opens and closes a client (sharing one TLS context, made here). ``expect``:
    the status codes that pass (default 2xx). ``warn_at``/``fail_at``: response time in ms.
    ``health_json``: read the dependency's application/health+json document and take its
    status (pass, warn or fail).
    """
    module = _httpx2()
    if isinstance(url, str):
        where(url, "http.get")  # refuses what cannot be read for sure, repeating nothing of it
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        given = public(url) if isinstance(url, str) else repr(url)
        msg = f"http.get: url must be an http:// or https:// URL, got {given}"
        raise ValueError(msg)
    expected = frozenset(expect)
    if not expected or not all(isinstance(code, int) and 100 <= code <= 599 for code in expected):
        msg = "http.get: expect must hold HTTP status codes (100-599)"
        raise ValueError(msg)
    require_levels("http.get", warn_at, fail_at)
    shown = f"GET {public(url)}"
    # Without the app's client, each call makes one: with the TLS context made once here, not
    # per call (loading the trust store takes tens of milliseconds, on the event loop).
    tls_context = module.create_ssl_context() if client is None else None

    async def http_get() -> Result:
        try:
            if client is not None:
                response = await client.get(url, headers=headers)
            else:
                async with module.AsyncClient(verify=tls_context) as own:
                    response = await own.get(url, headers=headers)
        except module.HTTPError as exc:
            return Result(Status.FAIL, output=f"{shown}: {_reason(exc, module)}")
        elapsed_ms = response.elapsed.total_seconds() * 1000
        if response.status_code not in expected:
            return Result(
                Status.FAIL,
                output=f"{shown} returned {response.status_code}",
                observed_value=round(elapsed_ms, 3),
                observed_unit="ms",
            )
        if health_json:
            return _their_status(response, shown, elapsed_ms)
        return judge(elapsed_ms, "ms", warn_at=warn_at, fail_at=fail_at, what=f"{shown} took")

    return http_get


def _their_status(response: Any, shown: str, elapsed_ms: float) -> Result:
    try:
        status = Status(response.json()["status"])
    except (ValueError, KeyError, TypeError):
        return Result(Status.FAIL, output=f"{shown} did not answer with a health+json status")
    output = None if status is Status.PASS else f"{shown} reports {status.value}"
    return Result(status, output=output, observed_value=round(elapsed_ms, 3), observed_unit="ms")


def _reason(exc: BaseException, module: Any) -> str:
    for seen in exception_chain(exc):
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
    network = reason(exc)
    if network != type(exc).__name__:
        return network
    if isinstance(exc, module.TimeoutException):
        return "timed out"
    if isinstance(exc, module.ConnectError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text:
            detail = text.split("certificate verify failed:", 1)[-1].strip(" )")
            return f"TLS certificate rejected ({detail})" if detail else "TLS certificate rejected"
        if "Connection refused" in text or "connection refused" in text.lower():
            return "connection refused"
        return "cannot connect"
    return type(exc).__name__
