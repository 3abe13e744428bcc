"""The HTTP side: the status-code mapping, methods, headers. Plain ASGI, no per-request objects."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Send

from ._status import Status

__all__ = ["ALLOWED_METHODS", "DEFAULT_STATUS_CODES", "Responder", "validate_status_codes"]

#: pass and warn (degraded) keep a service in rotation; fail takes it out.
DEFAULT_STATUS_CODES: Mapping[Status, int] = {Status.PASS: 200, Status.WARN: 200, Status.FAIL: 503}

# The draft: pass and warn MUST use 2xx-3xx, fail MUST use 4xx-5xx.
_ALLOWED_RANGES = {Status.PASS: range(200, 400), Status.WARN: range(200, 400), Status.FAIL: range(400, 600)}
_RULE = "the health+json draft requires pass and warn in 200-399 and fail in 400-599"
_BODILESS = frozenset({204, 205, 304})  # responses that cannot carry the document

# OPTIONS answers with the health status: HAProxy's `option httpchk` sends `OPTIONS /` by default.
ALLOWED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALLOW = b"GET, HEAD, OPTIONS"
_TEXT = b"text/plain; charset=utf-8"


def validate_status_codes(codes: Mapping[Status, int] | Mapping[str, int]) -> dict[Status, int]:
    """The mapping keyed by Status, after checking it against the draft; raises ValueError."""
    if not isinstance(codes, Mapping):
        msg = f"status_codes must be a mapping of pass, warn and fail to HTTP status codes, got {codes!r}"
        raise TypeError(msg)
    result: dict[Status, int] = {}
    for key, code in codes.items():
        try:
            status = Status(key)
        except ValueError:
            msg = f"status_codes has the key {key!r}; the keys are pass, warn and fail"
            raise ValueError(msg) from None
        if status in result:
            msg = f"status_codes maps {status.value!r} twice (as {key!r}); give each status once"
            raise ValueError(msg)
        if isinstance(code, bool) or not isinstance(code, int):
            msg = f"status_codes[{key!r}] must be an int HTTP status code, got {code!r}"
            raise TypeError(msg)
        if code not in _ALLOWED_RANGES[status]:
            msg = f"status_codes maps {status.value!r} to {code}, but {_RULE}"
            raise ValueError(msg)
        if code in _BODILESS:
            msg = f"status_codes maps {status.value!r} to {code}, which has no body to carry the document"
            raise ValueError(msg)
        result[status] = code
    missing = [status.value for status in Status if status not in result]
    if missing:
        msg = f"status_codes leaves {', '.join(missing)} unmapped; map pass, warn and fail ({_RULE})"
        raise ValueError(msg)
    return result


class Responder:
    """Sends health answers and refusals; every header list is built once, up front."""

    __slots__ = ("_codes", "_headers")

    def __init__(self, codes: Mapping[Status, int], *, cache_control: str | None) -> None:
        nosniff = (b"x-content-type-options", b"nosniff")
        shared = (
            [nosniff, (b"cache-control", cache_control.encode("latin-1"))] if cache_control else [nosniff]
        )
        private = [nosniff, (b"cache-control", b"private, no-store")]
        self._codes = dict(codes)
        # (text, private) -> headers: a detailed answer for an authorized request is never cached.
        json_type, text_type = (b"content-type", b"application/health+json"), (b"content-type", _TEXT)
        self._headers = {
            (False, False): [json_type, *shared],
            (True, False): [text_type, *shared],
            (False, True): [json_type, *private],
            (True, True): [text_type, *private],
        }

    async def health(
        self,
        method: str,
        status: Status,
        body: bytes,
        send: Send,
        *,
        text: bool = False,
        extra: list[tuple[bytes, bytes]] | None = None,
        private: bool = False,
    ) -> None:
        headers = [*self._headers[text, private], (b"content-length", str(len(body)).encode())]
        if extra:
            headers += extra
        if method == "OPTIONS":
            headers.append((b"allow", _ALLOW))
        await send({"type": "http.response.start", "status": self._codes[status], "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def method_not_allowed(self, send: Send, *, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        message = "Method not allowed; a health endpoint answers GET, HEAD and OPTIONS."
        await self.error(405, message, send, allow=True, extra=extra)

    async def error(
        self,
        code: int,
        message: str,
        send: Send,
        *,
        allow: bool = False,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """A refusal (4xx) in plain text; no check has run."""
        body = f"{message}\n".encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if allow:
            headers.append((b"allow", _ALLOW))
        if extra:
            headers += extra
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": body})
