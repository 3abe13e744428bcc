"""Probe endpoints: which checks each runs, Kubernetes API server conventions, the lifecycle.

Every endpoint answers its path and ``<path>/<check name>`` (one check), takes ``?exclude=<name>``
(repeatable) and gives the plain-text listing for ``?verbose`` or ``Accept: text/plain``.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from ._auth import Authorizer
from ._check import require_seconds
from ._endpoint import ALLOWED_METHODS, Responder
from ._lifecycle import Lifecycle
from ._report import Document, Observation, clip
from ._runner import Runner
from ._slot import Slot
from ._status import Status

__all__ = ["DEFAULT_DETAILS", "DETAIL_LEVELS", "ROLES", "Endpoint", "Probe", "select"]

_log = logging.getLogger("healthkit")

DETAIL_LEVELS = ("never", "when_authorized", "always")
#: role -> detail level when the Probe does not say
DEFAULT_DETAILS = {"health": "when_authorized", "live": "never", "ready": "never", "startup": "never"}

#: role -> (endpoint name, default path)
ROLES = {
    "health": ("health", "/health"),
    "live": ("livez", "/livez"),
    "ready": ("readyz", "/readyz"),
    "startup": ("startupz", "/startupz"),
}


@dataclass(frozen=True, slots=True)
class Probe:
    """How one probe endpoint chooses and judges checks. Everything left out takes a default.

    - ``path``: ``/health``, ``/livez``, ``/readyz``, ``/startupz`` by default.
    - ``tags``: run the checks carrying any of these tags. By default the report runs every
      check, liveness the checks tagged ``live``, the startup probe ``startup``, and readiness
      those tagged ``ready`` plus every untagged check.
    - ``include`` / ``exclude``: check names added to or removed from that selection.
    - ``warn_only``: check names whose failure only degrades this probe to warn.
    - ``deadline``, ``status_codes``: as for ``Health``; the ``Health``'s by default.
    - ``timeout_seconds``, ``period_seconds``: what the kubelet's probe is configured with;
      healthkit warns at start-up when the deadline or the drain does not fit them.
    - ``details``: ``"never"`` (statuses only), ``"when_authorized"`` (everything, for requests
      the ``Health``'s ``authorize`` accepts) or ``"always"``. By default the report shows details
      when authorized, and the probes never.
    """

    path: str | None = None
    tags: Collection[str] | None = None
    include: Collection[str] = ()
    exclude: Collection[str] = ()
    warn_only: Collection[str] = ()
    deadline: float | None = None
    status_codes: Mapping[Status, int] | Mapping[str, int] | None = None
    timeout_seconds: float = 1.0
    period_seconds: float = 10.0
    details: str | None = None

    def __post_init__(self) -> None:
        if self.details is not None and self.details not in DETAIL_LEVELS:
            msg = f"Probe details must be one of {', '.join(map(repr, DETAIL_LEVELS))}, got {self.details!r}"
            raise ValueError(msg)
        path = self.path
        if path is not None and not (
            isinstance(path, str) and path.startswith("/") and not path.endswith("/")
        ):
            msg = (
                f"Probe path must start with '/' and not end with one, like '/readyz' (not '/'), got {path!r}"
            )
            raise ValueError(msg)
        for field in ("tags", "include", "exclude", "warn_only"):
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
                msg = f"Probe {field} must be a collection of non-empty strings, got {value!r}"
                raise TypeError(msg)
            object.__setattr__(self, field, frozenset(value))
        if self.deadline is not None:
            require_seconds("Probe", "deadline", self.deadline)
        require_seconds("Probe", "timeout_seconds", self.timeout_seconds)
        require_seconds("Probe", "period_seconds", self.period_seconds)


def select(role: str, probe: Probe, slots: Sequence[Slot]) -> list[Slot]:
    """The slots a probe runs, in registration order; refuses names that are not registered."""
    names = {slot.check.name for slot in slots}
    for field in ("include", "exclude", "warn_only"):
        unknown = sorted(set(getattr(probe, field)) - names)
        if unknown:
            msg = (
                f"{ROLES[role][0]} {field} names {', '.join(map(repr, unknown))}, which is not a registered "
                f"check; the checks are: {', '.join(sorted(names)) or 'none'}"
            )
            raise ValueError(msg)

    def chosen(slot: Slot) -> bool:
        check = slot.check
        if check.name in probe.exclude:
            return False
        if check.name in probe.include:
            return True
        if probe.tags is not None:
            return bool(check.tags & probe.tags)  # type: ignore[operator]
        if role == "health":
            return True
        if role == "ready":
            return "ready" in check.tags or not check.tags
        return role in check.tags

    selected = [slot for slot in slots if chosen(slot)]
    if probe.tags is not None and not any(slot.check.tags & probe.tags for slot in selected):  # type: ignore[operator]
        _log.warning("%s: no check carries any of the tags %s", ROLES[role][0], sorted(probe.tags))
    return selected


class Endpoint:
    """One probe endpoint, an ASGI app."""

    def __init__(
        self,
        *,
        role: str,
        runner: Runner,
        document: Document,
        responder: Responder,
        lifecycle: Lifecycle,
        startup: Runner | None = None,
        details: str = "always",
        authorize: Authorizer | None = None,
    ) -> None:
        self.role = role
        self.details = details
        self._authorize = authorize
        self._odd_answer_logged = False
        self.name = ROLES[role][0]
        self.runner = runner
        self._by_name = {slot.check.name: slot for slot in runner.slots}
        self._document = document
        self._responder = responder
        self._lifecycle = lifecycle
        self._startup = startup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        method = scope["method"]
        extra, wants_text = _read_headers(scope.get("headers", ()))
        if method not in ALLOWED_METHODS:
            await self._responder.method_not_allowed(send, extra=extra)
            return
        text = False
        excluded: list[str] = []
        query = scope.get("query_string")
        if query:
            if len(query) > MAX_QUERY:
                message = f"The query string is {len(query)} bytes long; a probe takes at most {MAX_QUERY}."
                await self._responder.error(414, message, send, extra=extra)
                return
            # Unknown parameters are ignored; known ones with bad values are refused.
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if key == "verbose":
                    flag = _FLAGS.get(value.lower())
                    if flag is None:
                        message = (
                            f"verbose takes no value, or one of 1, true, 0, false; got {clip(value, 64)!r}"
                        )
                        await self._responder.error(400, message, send, extra=extra)
                        return
                    text = flag
                elif key == "exclude":
                    if not value:
                        await self._responder.error(
                            400, "exclude needs a check name: ?exclude=<name>", send, extra=extra
                        )
                        return
                    if value not in excluded:
                        excluded.append(value)
        text = text or wants_text
        one = scope.get("path_params", {}).get("name") or None

        subset: list[Slot] | None = None
        if one is not None:
            slot = self._by_name.get(one)
            if slot is None:
                message = f"{self.name} has no check named {clip(one, 100)!r}; {self._listing()}"
                await self._responder.error(404, message, send, extra=extra)
                return
            subset = [slot]
        elif excluded:
            unknown = sorted(set(excluded) - self._by_name.keys())
            if unknown:
                names = ", ".join(repr(clip(name, 100)) for name in unknown[:10])
                message = f"cannot exclude {names}: not in {self.name}; {self._listing()}"
                await self._responder.error(400, message, send, extra=extra)
                return
            subset = [slot for slot in self.runner.slots if slot.check.name not in excluded]

        output: str | None = None
        head: list[_Line] = []
        if one is not None:
            # One check, as a diagnostic: its own status, without the lifecycle (point probes
            # at the whole endpoint).
            status, observations = await self.runner.run(subset)
        else:
            status, observations, output, head = await self._run_role(subset)
        level = self.details
        details = level == "always" or (level == "when_authorized" and await self._details(scope, receive))
        # The answer depends on the Accept header (text or JSON) and, when details are for
        # authorized requests only, on who asks: shared caches must keep them apart, and must not
        # keep a detailed answer at all.
        personal = level == "when_authorized"
        extra.append(_VARY_PERSONAL if personal else _VARY)
        try:
            if text:
                lines = head + [(obs.check.name, obs.status, obs.output) for obs in observations]
                lines += [(f"{name} excluded:", Status.PASS, None) for name in excluded]
                body = self._document.render_text(
                    self.name, status is not Status.FAIL, lines, details=details
                )
            else:
                body = self._document.render(status, observations, output, details=details)
        except (TypeError, ValueError):
            # Results are checked once per call and settings when built; this is the last net.
            _log.exception("The %s answer could not be serialized", self.name)
            status, text, body = Status.FAIL, False, _UNSERIALIZABLE
        await self._responder.health(
            method, status, body, send, text=text, extra=extra, private=personal and details
        )

    async def _details(self, scope: Scope, receive: Receive) -> bool:
        """Whether the authorizer lets this request see outputs, values and metadata."""
        if self._authorize is None:
            return False
        try:
            allowed = self._authorize(Request(scope, receive))
            if inspect.isawaitable(allowed):
                allowed = await allowed
        except Exception:
            _log.exception("The authorizer failed; showing no details")
            return False
        if not isinstance(allowed, bool) and not self._odd_answer_logged:
            self._odd_answer_logged = True
            _log.warning("The authorizer returned %r, not True or False: no details are shown", type(allowed))
        return allowed is True

    async def _run_role(
        self, subset: list[Slot] | None
    ) -> tuple[Status, list[Observation], str | None, list[_Line]]:
        """Run the probe (``subset``: less what ``?exclude`` leaves out), with what the lifecycle
        says about it: an exclusion never hides the drain, maintenance or startup."""
        lifecycle = self._lifecycle
        if self.role == "ready":
            reason = lifecycle.not_ready()
            if reason is not None:
                line = "shutdown" if lifecycle.draining else "ready"
                return Status.FAIL, [], reason, [(line, Status.FAIL, reason)]
            if not lifecycle.started:
                status, observations = await self._start()
                if status is Status.FAIL:
                    reason = "starting: waiting for the startup checks to pass"
                    return Status.FAIL, observations, reason, [("startup", Status.FAIL, reason)]
        elif self.role == "startup":
            if lifecycle.started:
                return Status.PASS, [], None, [("startup", Status.PASS, None)]
            status, observations = await self._start()
            return status, observations, None, []
        status, observations = await self.runner.run(subset)
        return status, observations, None, []

    async def _start(self) -> tuple[Status, list[Observation]]:
        """Run the startup checks; once they pass, startup is complete and they stop running."""
        assert self._startup is not None
        status, observations = await self._startup.run()
        if status is not Status.FAIL and not self._lifecycle.started:
            self._lifecycle.started = True
            _log.info("Startup complete: the startup checks passed")
        return status, observations

    def _listing(self) -> str:
        names = ", ".join(self._by_name) or "none"
        return f"its checks are: {names}"


_Line = tuple[str, Status, str | None]
_UNSERIALIZABLE = (
    b'{"status":"fail","output":"the health document could not be serialized; see the server log"}'
)

#: Bytes of query string a probe reads; a longer one is refused (414).
MAX_QUERY = 1024
_FLAGS = {"": True, "1": True, "true": True, "0": False, "false": False}


_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")


_VARY = (b"vary", b"Accept")
_VARY_PERSONAL = (b"vary", b"Accept, Authorization, Cookie")


def _read_headers(headers: Sequence[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], bool]:
    """One pass over the request's headers: an X-Request-ID to echo (only when it is a plain
    token), and whether the client asks for the text listing (Accept: text/plain, no JSON)."""
    echo: list[tuple[bytes, bytes]] = []
    text = False
    for key, value in headers:
        if key == b"x-request-id":
            if not echo and _REQUEST_ID.fullmatch(value):
                echo.append((b"x-request-id", value))
        elif key == b"accept":
            value = value.lower()
            text = b"text/plain" in value and b"json" not in value
    return echo, text


def probe_deadline(probe: Probe, default: float) -> float:
    return probe.deadline if probe.deadline is not None else default
