"""One HTTP probe with the standard library only: ``healthkit probe URL``.

For places with no curl or wget, like slim container images: Docker's ``HEALTHCHECK`` and exec
probes. It runs on every interval, so it starts fast: it imports only the standard library (not
starlette, anyio or orjson; ``ssl`` for https only). The HTTP status decides, as it does for the
kubelet, HAProxy and Docker users of ``curl -f``: 2xx and 3xx are healthy (a redirect is not
followed), anything else is not. The body is only read to say why, in one line.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit

__all__ = ["DEFAULT_TIMEOUT", "MAX_BODY", "Verdict", "parse_header", "parse_url", "probe", "summarize"]

#: Seconds the whole exchange may take (name lookup, connect, request, answer). healthkit answers
#: within its deadline (0.8 s by default) even when a check hangs, so 5 s only runs out when the
#: server itself is stuck; it stays well below Docker's HEALTHCHECK timeout (30 s), so the probe
#: reports why, instead of being killed without a word.
DEFAULT_TIMEOUT = 5.0
#: Bytes of the body read at most, to name the failing checks; the rest is never read.
MAX_BODY = 64 * 1024
#: Check names a line lists at most, per status.
_MAX_NAMES = 10
_HEALTH_JSON = "application/health+json"
_ALIASES = {"ok": "pass", "up": "pass", "error": "fail", "down": "fail"}
#: The characters of an HTTP header name (RFC 9110 tchar).
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Verdict:
    """What one probe found: whether the service is healthy, and one line saying why. (Not a
    dataclass: the probe imports as little as it can.)"""

    __slots__ = ("healthy", "line")

    def __init__(self, healthy: bool, line: str) -> None:
        self.healthy = healthy
        self.line = line

    def __repr__(self) -> str:
        return f"Verdict(healthy={self.healthy!r}, line={self.line!r})"


def parse_url(text: str) -> SplitResult:
    """The probe's URL, checked: http or https, a host, a valid port, no credentials."""
    if not text.isprintable() or any(c.isspace() for c in text):
        msg = f"URL must not contain spaces or control characters, got {text!r}"
        raise ValueError(msg)
    url = urlsplit(text)
    if url.scheme not in ("http", "https"):
        msg = f"URL must start with http:// or https://, like http://127.0.0.1:8000/readyz, got {text!r}"
        raise ValueError(msg)
    if not url.hostname:
        msg = f"URL has no host, like http://127.0.0.1:8000/readyz, got {text!r}"
        raise ValueError(msg)
    try:
        url.hostname.encode("idna")  # as the name lookup will
    except UnicodeError:
        msg = f"URL has a host name that cannot be looked up (an empty or too long label): {url.hostname!r}"
        raise ValueError(msg) from None
    try:
        url.port  # noqa: B018 - urlsplit checks the port when it is read
    except ValueError:
        msg = f"URL has a port that is not a number from 1 to 65535: {text!r}"
        raise ValueError(msg) from None
    if url.port == 0:
        msg = f"URL has a port that is not a number from 1 to 65535: {text!r}"
        raise ValueError(msg)
    if url.username is not None or url.password is not None:
        msg = "URL must not hold credentials (user:password@); send them with --header 'Authorization: ...'"
        raise ValueError(msg)
    return url


def parse_header(text: str) -> tuple[str, str]:
    """``NAME:VALUE`` (spaces around the value are dropped) as ``(name, value)``."""
    name, colon, value = text.partition(":")
    if not colon or not name or not set(name) <= _TOKEN:
        msg = f"header must be NAME:VALUE, like 'Authorization: Bearer abc', got {text!r}"
        raise ValueError(msg)
    value = value.strip()
    if not value.isprintable():
        msg = f"header {name} has a value with control characters (a line break?): {value!r}"
        raise ValueError(msg)
    return name, value


def probe(url: str, *, timeout: float = DEFAULT_TIMEOUT, headers: Sequence[tuple[str, str]] = ()) -> Verdict:
    """GET ``url`` and judge the answer, all within ``timeout`` seconds.

    The exchange runs in a daemon thread and the probe waits for it at most ``timeout``: that
    bounds what socket timeouts cannot (a name lookup that hangs, a server dripping its answer
    byte by byte). A thread left behind never keeps the process from exiting.
    """
    split = parse_url(url)
    shown = _shown(split)
    found: list[Verdict] = []

    def exchange() -> None:
        try:
            found.append(_exchange(split, shown, timeout, headers))
        except Exception as exc:  # whatever went wrong is a verdict, never a "timed out"
            found.append(Verdict(False, f"unhealthy: {shown}: {type(exc).__name__}: {_clean(str(exc), 120)}"))

    worker = threading.Thread(target=exchange, name="healthkit-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if not found:
        return Verdict(False, f"unhealthy: {shown} timed out: no answer within {_seconds(timeout)}")
    return found[0]


def _exchange(split: SplitResult, shown: str, timeout: float, headers: Sequence[tuple[str, str]]) -> Verdict:
    host = split.hostname
    assert host is not None
    connection: http.client.HTTPConnection
    if split.scheme == "https":
        import ssl  # only here: it takes a while to import

        context = ssl.create_default_context()  # the system's trust store; SSL_CERT_FILE works too
        connection = http.client.HTTPSConnection(host, split.port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, split.port, timeout=timeout)
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    sent = {
        "Accept": f"{_HEALTH_JSON}, application/json;q=0.9, */*;q=0.1",
        "User-Agent": "healthkit-probe",
        "Connection": "close",
    }
    sent.update(headers)
    try:
        connection.request("GET", target, headers=sent)
        response = connection.getresponse()
        status, reason = response.status, response.reason
        content_type = response.getheader("Content-Type") or ""
        body = response.read(MAX_BODY + 1)
    except socket.gaierror as exc:
        return Verdict(False, f"unhealthy: {shown}: cannot resolve host {host!r}: {exc.strerror}")
    except TimeoutError:
        return Verdict(False, f"unhealthy: {shown} timed out: no answer within {_seconds(timeout)}")
    except ConnectionRefusedError:
        return Verdict(False, f"unhealthy: {shown}: connection refused (is the server listening?)")
    except http.client.RemoteDisconnected:
        return Verdict(False, f"unhealthy: {shown}: the server closed the connection without answering")
    except http.client.BadStatusLine as exc:
        line = str(exc.args[0] if exc.args else exc).strip()  # the first line the server sent
        return Verdict(False, f"unhealthy: {shown}: not an HTTP answer: {_clean(line, 60)}")
    except http.client.HTTPException as exc:
        return Verdict(False, f"unhealthy: {shown}: a broken HTTP answer: {type(exc).__name__}")
    except OSError as exc:  # ssl.SSLError is one: a certificate not trusted, TLS to a plain port
        what = getattr(exc, "verify_message", None) or exc.strerror or str(exc) or type(exc).__name__
        return Verdict(False, f"unhealthy: {shown}: {type(exc).__name__}: {_clean(str(what), 120)}")
    finally:
        connection.close()
    healthy = 200 <= status < 400
    line = f"{'healthy' if healthy else 'unhealthy'}: {shown} answered {status} {_clean(reason, 40)}".rstrip()
    summary = summarize(content_type, body)
    return Verdict(healthy, f"{line}; {summary}")


def summarize(content_type: str, body: bytes) -> str:
    """What a body says, in a few words: the health+json status with the names of the checks
    that fail or warn (never their outputs, nor the rest of the body)."""
    media = content_type.partition(";")[0].strip().lower()
    if media not in (_HEALTH_JSON, "application/json"):
        shown = _clean(media, 60) or "no Content-Type"
        return f"the body is not {_HEALTH_JSON} ({shown})"
    if len(body) > MAX_BODY:
        return f"the body is larger than {MAX_BODY // 1024} KiB: not read"
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return f"the body is not valid JSON ({_clean(media, 60)})"
    status = _status(document.get("status")) if isinstance(document, dict) else None
    if status is None:
        return f"the body is JSON without a health status ({_clean(media, 60)})"
    words = [f"status {status}"]
    output = document.get("output")
    if status != "pass" and isinstance(output, str) and output:
        words[0] += f": {_clean(output, 120)}"
    checks = document.get("checks")
    if isinstance(checks, dict):
        found: dict[str, list[str]] = {"fail": [], "warn": []}
        for name, items in checks.items():
            entries = items if isinstance(items, list) else [items]
            statuses = {_status(e.get("status")) for e in entries if isinstance(e, dict)}
            for judged in ("fail", "warn"):
                if judged in statuses:
                    found[judged].append(_clean(str(name), 60))
                    break
        for judged, label in (("fail", "failing"), ("warn", "warning")):
            names = found[judged]
            if names:
                more = f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else ""
                words.append(f"{label}: {', '.join(names[:_MAX_NAMES])}{more}")
    return "; ".join(words)


def _status(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    folded = value.strip().lower()
    folded = _ALIASES.get(folded, folded)
    return folded if folded in ("pass", "warn", "fail") else None


def _shown(split: SplitResult) -> str:
    """The URL as the line shows it: without its query, which may carry a token."""
    return split._replace(query="", fragment="").geturl()


def _clean(text: str, limit: int) -> str:
    """Text from the server, safe for one line on a terminal: control characters escaped, cut."""
    escaped = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def _seconds(value: float) -> str:
    return f"{value:g}s"
