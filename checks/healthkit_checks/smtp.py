"""SMTP: the mail server greets, answers EHLO and NOOP, and lets the check go. No mail is sent.

    Check("smtp:responseTime", smtp.ping("smtp://mail.internal:587", starttls=True), critical=False)

``target`` is an ``smtp://host:port`` URL (port 25 by default), an ``smtps://host:port`` URL (TLS
from the start, port 465 by default), or the application's own ``aiosmtplib.SMTP``: the check
connects with the client's settings (host, port, TLS, login) on a connection of its own, and
never touches the client's. Each call connects, reads the greeting, sends EHLO, STARTTLS (see
``starttls``) and EHLO again, logs in when the URL (or client) has a user and password, and
sends NOOP and QUIT: never MAIL, RCPT or DATA. A login happens over TLS only; the password never
appears in outputs. Needs the ``smtp`` extra; aiosmtplib runs on asyncio only, so on trio the
check fails saying so.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio

from healthkit import Result, Status

from ._drivers import Refused, driver, not_on_asyncio, where
from ._levels import judge, require_levels
from .tcp import exception_chain, reason

__all__ = ["ping"]

WHAT = "expected an smtp:// or smtps:// URL or an aiosmtplib.SMTP client"


def ping(
    target: Any,
    *,
    starttls: bool | None = None,
    context: ssl.SSLContext | None = None,
    local_hostname: str | None = None,
    warn_at: float | None = None,
    fail_at: float | None = None,
) -> Callable[[], Awaitable[Result]]:
    """A check that opens an SMTP session, says EHLO and NOOP, and quits.

    ``starttls``: ``None`` (the default, as aiosmtplib's own) upgrades to TLS when the server
    offers STARTTLS; ``True`` requires it (the check fails when the server does not offer it);
    ``False`` never upgrades. ``context`` is the ``ssl.SSLContext`` that judges the server's
    certificate (default: the system's trust). ``local_hostname`` is the name EHLO gives (default:
    aiosmtplib's, this machine's fully qualified name). For an ``aiosmtplib.SMTP`` client, its own
    settings apply and these three stay unset.

    Reports the session's time, from connecting to NOOP's answer (``responseTime`` in ms;
    ``warn_at``/``fail_at`` in ms). Fails, saying why in plain words: ``connection refused``,
    ``connection lost``, ``the server does not offer STARTTLS``, ``TLS certificate rejected
    (self-signed certificate)``, ``authentication failed``, ``the server answered 421 to NOOP``, ...
    """
    require_levels("smtp.ping", warn_at, fail_at)
    if starttls is not None and not isinstance(starttls, bool):
        msg = f"smtp.ping: starttls must be True, False or None, got {starttls!r}"
        raise ValueError(msg)
    if context is not None and not isinstance(context, ssl.SSLContext):
        msg = f"smtp.ping: context must be an ssl.SSLContext or None, got {type(context).__name__}"
        raise TypeError(msg)
    if local_hostname is not None and (not isinstance(local_hostname, str) or not local_hostname.strip()):
        msg = f"smtp.ping: local_hostname must be a non-empty string or None, got {local_hostname!r}"
        raise ValueError(msg)
    module = driver("aiosmtplib", "healthkit_checks.smtp", "smtp")
    if isinstance(target, str):
        settings, require_tls, login, label = _url(target, starttls, context, local_hostname)
    elif isinstance(target, module.SMTP):
        if starttls is not None or context is not None or local_hostname is not None:
            msg = "smtp.ping: with an aiosmtplib.SMTP client, its own settings apply: leave starttls, context"
            msg += " and local_hostname unset"
            raise ValueError(msg)
        settings, require_tls, login, label = _client(target)
    else:
        msg = f"smtp.ping: {WHAT}, got {type(target).__name__}"
        raise TypeError(msg)

    async def converse(client: Any) -> None:
        """Greeting, EHLO, STARTTLS and EHLO, AUTH, NOOP: as far as the check's time is measured."""
        step = "the greeting"
        try:
            await client.connect()
            step = "EHLO"
            await client.ehlo()
            secure = bool(settings.get("use_tls"))
            if not secure and require_tls is not False:
                if client.supports_extension("starttls"):
                    step = "STARTTLS"
                    await client.starttls()
                    step = "EHLO"
                    await client.ehlo()
                    secure = True
                elif require_tls:
                    problem = "the server does not offer STARTTLS"
                    raise Refused(problem)
            if login is not None:
                refusal: str | None = None
                if not secure:
                    refusal = "the server does not offer STARTTLS, and the check logs in over TLS only"
                elif not client.supports_extension("auth"):
                    refusal = "the server offers no login (AUTH)"
                elif not client.supported_auth_methods:
                    refusal = "the server offers no login method the check knows"
                if refusal is not None:
                    raise Refused(refusal)
                step = "AUTH"
                await client.login(*login)
            step = "NOOP"
            await client.noop()
        except Exception as exc:
            raise Refused(_reason(exc, step, module)) from None

    async def smtp_ping() -> Result:
        refused = not_on_asyncio("smtp.ping")
        if refused is not None:
            return refused
        client = module.SMTP(**settings)
        try:
            started = anyio.current_time()
            try:
                await converse(client)
            except Refused as exc:
                result = Result(Status.FAIL, output=f"{label}: {exc.meaning}")
            else:
                elapsed_ms = (anyio.current_time() - started) * 1000
                result = judge(elapsed_ms, "ms", warn_at=warn_at, fail_at=fail_at, what="the session took")
            if client.is_connected:
                # QUIT, to part politely (a server logs a session that just drops); its answer is
                # not timed, nor waited for long: Exim, for one, holds it back for up to 200 ms.
                with anyio.move_on_after(1), suppress(Exception):
                    await client.quit()
        finally:
            # Whatever happened, the check's timeout (a cancellation) included: no TLS closing
            # handshake to wait for, the connection is done with.
            transport = client.transport
            client.close()
            if transport is not None:
                transport.abort()
        return result

    return smtp_ping


def _reason(exc: Exception, step: str, module: Any) -> str:
    """Plain words for what went wrong at ``step``: never the server's or the driver's text."""
    if isinstance(exc, Refused):
        return exc.meaning
    errors = module.errors
    chain = exception_chain(exc)
    for seen in chain:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate rejected ({seen.verify_message})"
    if any(isinstance(seen, ssl.SSLError) for seen in chain):
        return "TLS handshake failed"
    if isinstance(exc, errors.SMTPAuthenticationError):
        return "authentication failed"
    if isinstance(exc, errors.SMTPConnectResponseError):
        return f"the server refused the session ({exc.code})"
    if isinstance(exc, errors.SMTPResponseException):
        return f"the server answered {exc.code} to {step}"
    if isinstance(exc, errors.SMTPServerDisconnected):
        return "connection lost"
    if isinstance(exc, errors.SMTPTimeoutError):
        return "timed out"
    network = reason(exc)
    if network != type(exc).__name__:
        return network
    if isinstance(exc, errors.SMTPConnectError):
        return "cannot connect"
    return f"failed at {step} ({type(exc).__name__})"


def _url(
    url: str, starttls: bool | None, context: ssl.SSLContext | None, local_hostname: str | None
) -> tuple[dict[str, Any], bool | None, tuple[str, str] | None, str]:
    """(aiosmtplib.SMTP's settings, starttls, the login or None, the label) of a URL; raises a
    ValueError that repeats nothing of the URL when it cannot be read for sure."""
    if not url.startswith(("smtp://", "smtps://")):
        msg = f"smtp.ping: {WHAT}, got a string that is not an smtp:// or smtps:// URL"
        raise ValueError(msg)
    shown = where(url, "smtp.ping")
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment or not parts.hostname:
        msg = "smtp.ping: the URL must be smtp://host:port or smtps://host:port, with no path or options"
        raise ValueError(msg)
    implicit = parts.scheme == "smtps"
    if implicit and starttls:
        msg = "smtp.ping: starttls=True is for smtp:// URLs; smtps:// is TLS from the start"
        raise ValueError(msg)
    login = None
    if parts.username is not None or parts.password is not None:
        login = unquote(parts.username or ""), unquote(parts.password or "")
        if not all(login):
            msg = "smtp.ping: a login needs both a user and a password in the URL"
            raise ValueError(msg)
        if not implicit and starttls is False:
            msg = "smtp.ping: the check logs in over TLS only: for a login, use smtps:// or starttls on"
            raise ValueError(msg)
    port = parts.port or (465 if implicit else 25)
    settings = {
        "hostname": parts.hostname,
        "port": port,
        "use_tls": implicit,
        "start_tls": False,  # the check sends STARTTLS itself, when it should
        "tls_context": context or ssl.create_default_context(),
        "local_hostname": local_hostname,
    }
    label = f"smtp at {shown}" if parts.port else f"smtp at {shown}:{port}"
    return settings, None if implicit else starttls, login, label


def _client(client: Any) -> tuple[dict[str, Any], bool | None, tuple[str, str] | None, str]:
    """The same for an aiosmtplib.SMTP: its settings, for a connection of the check's own."""
    if getattr(client, "sock", None) is not None:
        msg = "smtp.ping: this aiosmtplib.SMTP was given a connected socket (sock=): a check cannot reuse it"
        raise ValueError(msg)
    try:
        settings = {
            name: getattr(client, name)
            for name in (
                "hostname",
                "port",
                "use_tls",
                "validate_certs",
                "tls_context",
                "cert_bundle",
                "client_cert",
                "client_key",
                "local_hostname",
                "socket_path",
                "source_address",
            )
        }
    except AttributeError:
        msg = "smtp.ping: cannot read this aiosmtplib.SMTP's settings; give an smtp:// URL"
        raise TypeError(msg) from None
    starttls = getattr(client, "_start_tls_on_connect", None)
    user, password = getattr(client, "_login_username", None), getattr(client, "_login_password", None)
    login = (user, password) if user and password else None
    implicit = bool(settings["use_tls"])
    port = settings["port"] or (465 if implicit else 587 if starttls else 25)
    # The check sends STARTTLS itself, when it should; the port stays the one the client would use.
    settings.update(start_tls=False, port=None if settings["socket_path"] is not None else port)
    if settings["socket_path"] is not None:
        label = f"smtp at {settings['socket_path']}"
    else:
        host = settings["hostname"] or "localhost"
        label = f"smtp at [{host}]:{port}" if ":" in host else f"smtp at {host}:{port}"
    return settings, None if implicit else starttls, login, label
