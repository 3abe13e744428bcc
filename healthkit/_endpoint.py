"""The HTTP side: an endpoint parses the request, runs, renders the Report, and sends it.

Also where a status becomes an HTTP status code (``validate_status_codes`` and ``Responder``),
and what methods, headers and query parameters mean. Plain ASGI.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from urllib.parse import parse_qsl

import anyio
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from ._events import Changes
from ._observe import Observers, ProbeAnswered
from ._outcome import CheckReport
from ._page import Page
from ._report import CheckReports, Kept, Renderer, Report, keep
from ._status import Status
from ._text import clip, seconds

__all__ = [
    "ALLOWED_METHODS",
    "DEFAULT_STATUS_CODES",
    "MAX_QUERY",
    "Answer",
    "Authorizer",
    "Endpoint",
    "Responder",
    "validate_status_codes",
]

_log = logging.getLogger("healthkit")

#: Takes the request; returns (or awaits to) True when the request may see details.
Authorizer = Callable[[Request], bool | Awaitable[bool]]
#: Runs an endpoint: (endpoint name, checks excluded, the one check asked for) -> Report
Run = Callable[[str, tuple[str, ...], str | None], Awaitable[Report]]

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


class Answer:
    """A statuses-only answer, whole: its status code, its headers (with the length, and with
    ``Allow`` for OPTIONS) and its body, built once for each body and sent as often as it holds."""

    __slots__ = ("body", "code", "headers", "options")

    def __init__(self, code: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.code = code
        self.headers = headers
        self.options = [*headers, (b"allow", _ALLOW)]
        self.body = body


class Responder:
    """Sends health answers and refusals. Every header block (content type, who may cache it,
    with ``Vary``) is built once, up front, and a statuses-only answer once for each body: per
    answer only the length (when the body is new) and the request's own id are added."""

    __slots__ = ("_answers", "_blocks", "_cache_control", "_codes", "_vary")

    def __init__(
        self,
        codes: Mapping[Status, int],
        *,
        cache_control: str | None,
        vary: tuple[bytes, bytes] | None = None,
    ) -> None:
        nosniff = (b"x-content-type-options", b"nosniff")
        shared = (
            [nosniff, (b"cache-control", cache_control.encode("latin-1"))] if cache_control else [nosniff]
        )
        private = [nosniff, (b"cache-control", b"private, no-store")]
        self._codes = dict(codes)
        self._cache_control = cache_control
        self._vary = vary
        varying = [vary] if vary is not None else []
        # (text, private) -> headers: a detailed answer for an authorized request is never cached.
        json_type, text_type = (b"content-type", b"application/health+json"), (b"content-type", _TEXT)
        self._blocks = {
            (False, False): [json_type, *shared, *varying],
            (True, False): [text_type, *shared, *varying],
            (False, True): [json_type, *private, *varying],
            (True, True): [text_type, *private, *varying],
        }
        # (status, body) -> the whole statuses-only answer
        self._answers: dict[tuple[Status, bytes], Answer] = {}

    def varying(self, vary: tuple[bytes, bytes]) -> Responder:
        """This responder with ``vary`` in every health answer's headers (an endpoint's own)."""
        return Responder(self._codes, cache_control=self._cache_control, vary=vary)

    def answer(self, status: Status, body: bytes) -> Answer:
        """The statuses-only answer with ``body``, built the first time that body is seen."""
        key = (status, body)
        answer = self._answers.get(key)
        if answer is None:
            headers = [*self._blocks[False, False], (b"content-length", str(len(body)).encode())]
            answer = Answer(self._codes[status], headers, body)
            if len(self._answers) >= _ANSWERS:
                self._answers.clear()  # bounded, as the bodies are (see _render._STATUS_BODIES)
            self._answers[key] = answer
        return answer

    async def send(self, method: str, answer: Answer, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        """Send an answer built before. Its header list is copied (a middleware may change the
        list it is given in place), the message dicts are new: nothing sent is shared."""
        headers = (answer.options if method == "OPTIONS" else answer.headers) + extra
        await send({"type": "http.response.start", "status": answer.code, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else answer.body})

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
        headers = [*self._blocks[text, private], (b"content-length", str(len(body)).encode())]
        if extra:
            headers += extra
        if method == "OPTIONS":
            headers.append((b"allow", _ALLOW))
        await send({"type": "http.response.start", "status": self._codes[status], "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    def code(self, status: Status) -> int:
        """The HTTP status code for ``status``."""
        return self._codes[status]

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


class Endpoint:
    """One endpoint, an ASGI app: parse the request, run, render the Report, send."""

    def __init__(
        self,
        *,
        name: str,
        run: Run,
        checks: Collection[str],
        renderer: Renderer,
        responder: Responder,
        deadline: float,
        details: str,
        authorize: Authorizer | None,
        observers: Observers | None = None,
        page: Page | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.name = name
        self._observers = observers if observers is not None else Observers()
        self._page = page  # /health's status page and ?history (_page.py); None on the probes
        self.details = details
        self._run = run
        self._checks = checks
        self._renderer = renderer
        self._deadline = deadline
        self._authorize = authorize if details == "when_authorized" else None
        self._always = details == "always"
        # Statuses only, whoever asks: the answer the probes get by default.
        self._withholds = self._authorize is None and not self._always
        self._changes = changes if changes is not None else Changes()
        self._kept: Kept[Answer] | None = None  # the last statuses-only answer, while it holds
        self._odd_answer_logged = False
        # The answer depends on the Accept header (text or JSON) and, when details are for
        # authorized requests only, on who asks: shared caches must keep them apart, and must not
        # keep a detailed answer at all.
        self._vary = _VARY_PERSONAL if details == "when_authorized" else _VARY
        self._responder = responder.varying(self._vary)
        # The last statuses-only answer, and the overall status and check reports it was for.
        self._last: tuple[Status, Sequence[CheckReport], Answer] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        method = scope["method"]
        echo, wants_text, accept = _read_headers(scope.get("headers", ()))
        if method not in ALLOWED_METHODS:
            await self._responder.method_not_allowed(send, extra=echo)
            return
        if scope.get("query_string") or scope.get("path_params"):
            parsed = self._parse(scope)
            if isinstance(parsed, _Refusal):
                await self._responder.error(parsed.code, parsed.message, send, extra=echo)
                return
            text, excluded, one = parsed
            text = text or wants_text
        else:
            text, excluded, one = wants_text, (), None
        view = None
        if self._page is not None and (accept or scope.get("query_string")):
            try:
                view = self._page.view(scope, accept)
            except ValueError as refusal:
                await self._responder.error(400, str(refusal), send, extra=echo)
                return
        observed = bool(self._observers)
        # Statuses only for the whole endpoint, nobody to tell of the probe: the kept answer, if
        # it holds, is this probe's answer (no run, no report; see _report.keep).
        keeps = self._withholds and not (text or excluded or one or observed) and view is None
        if keeps:
            kept = self._kept
            if kept is not None and kept.now(self._changes) is not None:
                await self._responder.send(method, kept.value, send, echo)
                return
        started = time.perf_counter() if observed else 0.0
        count = self._changes.count
        if self._authorize is None:
            report = await self._run(self.name, excluded, one)
            details = self._always
        else:
            report, details = await self._run_authorized(scope, receive, excluded, one)
        status = report.status
        if view is not None:
            await view.send(method, report, details, send, [*echo, self._vary])
        elif not (details or text):
            # The probes' default: the same bytes, headers and all, for the same statuses.
            answer = self._withheld(report)
            if keeps:
                self._kept = keep(answer, report, count)
            await self._responder.send(method, answer, send, echo)
        else:
            try:
                if text:
                    body = self._renderer.render_text(report, details=details)
                else:
                    body = self._renderer.render(report, details=details)
            except (TypeError, ValueError):
                # Results are checked once per call and settings when built; this is the last net.
                _log.exception("The %s answer could not be serialized", self.name)
                status, text, body = Status.FAIL, False, _UNSERIALIZABLE
            private = self._authorize is not None and details
            await self._responder.health(method, status, body, send, text=text, extra=echo, private=private)
        if observed:
            duration = time.perf_counter() - started
            code = self._responder.code(status)
            self._observers.probe_answered(ProbeAnswered(self.name, status, code, duration, report))

    def _withheld(self, report: Report) -> Answer:
        """The statuses-only answer for ``report``. While the checks' reports are the ones the
        last answer was for (served from the cache, they are the very same objects), that answer
        holds; else the document gives the body (made once per set of statuses) and the
        responder the answer (made once per body)."""
        status, checks = report.status, report.checks
        records = checks.records if type(checks) is CheckReports else None
        last = self._last
        if last is not None and last[0] is status and last[1] == records:
            return last[2]
        answer = self._responder.answer(status, self._renderer.render(report, details=False))
        if records is not None:
            self._last = (status, records, answer)
        return answer

    def _parse(self, scope: Scope) -> tuple[bool, tuple[str, ...], str | None] | _Refusal:
        """(text listing asked for, checks to leave out, the one check asked for), or a refusal."""
        text = False
        excluded: list[str] = []
        query = scope.get("query_string")
        if query:
            if len(query) > MAX_QUERY:
                return _Refusal(
                    414, f"The query string is {len(query)} bytes long; a probe takes at most {MAX_QUERY}."
                )
            # Unknown parameters are ignored; known ones with bad values are refused.
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if key == "verbose":
                    flag = _FLAGS.get(value.lower())
                    if flag is None:
                        return _Refusal(
                            400,
                            f"verbose takes no value, or one of 1, true, 0, false; got {clip(value, 64)!r}",
                        )
                    text = flag
                elif key == "exclude":
                    if not value:
                        return _Refusal(400, "exclude needs a check name: ?exclude=<name>")
                    if value not in excluded:
                        excluded.append(value)
        one = scope.get("path_params", {}).get("name") or None
        if one is not None:
            if one not in self._checks:
                return _Refusal(404, f"{self.name} has no check named {clip(one, 100)!r}; {self._listing()}")
            return text, (), one
        unknown = [name for name in excluded if name not in self._checks]
        if unknown:
            names = ", ".join(repr(clip(name, 100)) for name in sorted(unknown)[:10])
            return _Refusal(400, f"cannot exclude {names}: not in {self.name}; {self._listing()}")
        return text, tuple(excluded), None

    async def _run_authorized(
        self, scope: Scope, receive: Receive, excluded: tuple[str, ...], one: str | None
    ) -> tuple[Report, bool]:
        """Run, with the authorizer deciding meanwhile, inside the same deadline: a slow or
        failing authorizer means no details, never a late answer."""
        assert self._authorize is not None
        try:
            verdict = self._authorize(Request(scope, receive))
        except Exception:
            _log.exception("The authorizer failed; showing no details")
            return await self._run(self.name, excluded, one), False
        if not inspect.isawaitable(verdict):
            return await self._run(self.name, excluded, one), self._allowed(verdict)
        answer: list[object] = [False]

        async def decide(pending: Awaitable[bool]) -> None:
            with anyio.move_on_after(self._deadline) as timer:
                try:
                    answer[0] = await pending
                except Exception:
                    _log.exception("The authorizer failed; showing no details")
            if timer.cancel_called:
                _log.warning(
                    "The authorizer did not answer within the deadline (%s): no details are shown",
                    seconds(self._deadline),
                )

        async with anyio.create_task_group() as group:
            group.start_soon(decide, verdict)
            report = await self._run(self.name, excluded, one)
        return report, self._allowed(answer[0])

    def _allowed(self, verdict: object) -> bool:
        if not isinstance(verdict, bool) and not self._odd_answer_logged:
            self._odd_answer_logged = True
            _log.warning("The authorizer returned %r, not True or False: no details are shown", type(verdict))
        return verdict is True

    def _listing(self) -> str:
        return f"its checks are: {', '.join(self._checks) or 'none'}"


class _Refusal:
    __slots__ = ("code", "message")

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message


_UNSERIALIZABLE = (
    b'{"status":"fail","output":"the health document could not be serialized; see the server log"}'
)

#: Statuses-only answers kept at most by a responder (one per body seen).
_ANSWERS = 256
#: Bytes of query string a probe reads; a longer one is refused (414).
MAX_QUERY = 1024
_FLAGS = {"": True, "1": True, "true": True, "0": False, "false": False}
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
_VARY = (b"vary", b"Accept")
_VARY_PERSONAL = (b"vary", b"Accept, Authorization, Cookie")


def _read_headers(
    headers: Sequence[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], bool, bytes]:
    """One pass over the request's headers: an X-Request-ID to echo (only when it is a plain
    token), whether the client asks for the text listing (Accept: text/plain, no JSON), and
    every Accept value, joined, for the status page's negotiation (empty when none names HTML:
    then the page is not wanted)."""
    echo: list[tuple[bytes, bytes]] = []
    text = html = False
    accepts: list[bytes] = []
    for key, value in headers:
        if key == b"x-request-id":
            if not echo and _REQUEST_ID.fullmatch(value):
                echo.append((b"x-request-id", value))
        elif key == b"accept":
            accepts.append(value)
            value = value.lower()
            text = b"text/plain" in value and b"json" not in value
            html = html or b"html" in value
    return echo, text, b",".join(accepts) if html else b""
