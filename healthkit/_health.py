"""Health: a set of checks served as one health endpoint (an ASGI app)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import MappingProxyType

import orjson
from starlette.types import Message, Receive, Scope, Send

from ._check import Check, require_seconds, require_text, validate_links
from ._endpoint import ALLOWED_METHODS, DEFAULT_STATUS_CODES, Responder, validate_status_codes
from ._engine import Engine
from ._events import Events, Listener
from ._report import Document
from ._runner import Runner
from ._status import Status

__all__ = ["DEFAULT_DEADLINE", "Health"]

_log = logging.getLogger("healthkit")

_UNSERIALIZABLE = orjson.dumps(
    {"status": "fail", "output": "the health document could not be serialized; see the server log"}
)

#: Seconds after which every unfinished check is reported as timed out and the answer is sent.
#: Below the kubelet's default probe timeout (1 s), with room for the request around it.
DEFAULT_DEADLINE = 0.8


class Health:
    """Runs its checks concurrently on every request and answers with application/health+json.

    A ``Health`` is an ASGI app: mount it with ``Route("/health", health)`` in Starlette, or
    ``app.router.routes.append(Route("/health", health))`` in FastAPI. Every setting is checked
    here, when the ``Health`` is built, never at request time.
    """

    def __init__(
        self,
        checks: Iterable[Check] = (),
        *,
        deadline: float = DEFAULT_DEADLINE,
        status_codes: Mapping[Status, int] | Mapping[str, int] = DEFAULT_STATUS_CODES,
        service_id: str | None = None,
        version: str | None = None,
        release_id: str | None = None,
        description: str | None = None,
        notes: Sequence[str] = (),
        links: Mapping[str, str] | None = None,
        cache_control: str | None = "no-store",
        max_threads: int = 8,
        cache_ttl: float = 0.0,
    ) -> None:
        self.checks = _validate_checks(checks)
        require_seconds("Health", "deadline", deadline)
        require_seconds("Health", "cache_ttl", cache_ttl, allow_zero=True)
        self.deadline = float(deadline)
        self.cache_ttl = float(cache_ttl)
        self.status_codes: Mapping[Status, int] = MappingProxyType(validate_status_codes(status_codes))
        for what, value in (
            ("service_id", service_id),
            ("version", version),
            ("release_id", release_id),
            ("description", description),
        ):
            require_text(f"Health {what}", value)
        if isinstance(notes, str) or not all(isinstance(note, str) for note in notes):
            msg = f"Health notes must be a sequence of strings, got {notes!r}"
            raise TypeError(msg)
        for note in notes:
            require_text("Health notes", note)
        if cache_control is not None and not (
            isinstance(cache_control, str) and cache_control.isascii() and cache_control.isprintable()
        ):
            msg = (
                f"Health cache_control must be a printable ASCII header value or None, got {cache_control!r}"
            )
            raise ValueError(msg)
        if isinstance(max_threads, bool) or not isinstance(max_threads, int) or max_threads < 1:
            msg = f"Health max_threads must be a whole number of at least 1, got {max_threads!r}"
            raise ValueError(msg)
        for check in self.checks:
            ttl = self.cache_ttl if check.cache_ttl is None else check.cache_ttl
            if check.stale_while_revalidate and not ttl:
                msg = (
                    f"Check {check.name!r}: stale_while_revalidate needs a cache: give the check or "
                    "the Health a cache_ttl above 0"
                )
                raise ValueError(msg)
            if check.timeout > self.deadline:
                _log.warning(
                    "Check %r has timeout %ss, longer than the deadline %ss: it will be cut at %ss",
                    check.name,
                    check.timeout,
                    self.deadline,
                    self.deadline,
                )
        self._events = Events()
        self._engine = Engine(
            self.checks, cache_ttl=self.cache_ttl, max_threads=max_threads, events=self._events
        )
        self._runner = Runner(
            self._engine, list(self._engine.slots.values()), deadline=self.deadline, events=self._events
        )
        self._document = Document(
            version=version,
            release_id=release_id,
            service_id=service_id,
            description=description,
            notes=tuple(notes),
            links=validate_links("Health links", links) if links is not None else None,
        )
        self._responder = Responder(self.status_codes, cache_control=cache_control)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            await self._not_http(kind, receive, send)
            return
        method = scope["method"]
        if method not in ALLOWED_METHODS:
            await self._responder.method_not_allowed(send)
            return
        status, observations = await self._runner.run()
        try:
            body = self._document.render(status, observations)
        except orjson.JSONEncodeError:
            # Results are checked once per call and settings when built; this is the last net.
            _log.exception("The health document could not be serialized")
            status, body = Status.FAIL, _UNSERIALIZABLE
        await self._responder.health(method, status, body, send)

    def on_change(self, listener: Listener) -> Listener:
        """Call ``listener(change)`` whenever a check's reported status or the overall status
        changes. Listeners run on the event loop and must not block; exceptions are logged.
        Returns the listener, so this works as a decorator."""
        self._events.subscribe(listener)
        return listener

    def running(self) -> AbstractAsyncContextManager[None]:
        """The background part of this Health: refreshes checks with ``refresh_every`` and owns
        calls that outlive a probe. Enter it in the app's lifespan; leaving it stops everything."""
        return self._engine.running()

    def lifespan(self, app: object) -> AbstractAsyncContextManager[None]:
        """A Starlette lifespan: ``Starlette(routes=..., lifespan=health.lifespan)``."""
        return self._engine.running()

    async def _not_http(self, kind: str, receive: Receive, send: Send) -> None:
        """Mounted as the whole app: run the lifespan; refuse websockets."""
        if kind == "lifespan":
            message: Message = await receive()
            if message["type"] != "lifespan.startup":
                return
            async with self.running():
                await send({"type": "lifespan.startup.complete"})
                while message["type"] != "lifespan.shutdown":
                    message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    def __repr__(self) -> str:
        names = ", ".join(check.name for check in self.checks)
        return f"Health([{names}], deadline={self.deadline})"


def _validate_checks(checks: Iterable[Check]) -> tuple[Check, ...]:
    if isinstance(checks, Check) or not isinstance(checks, Iterable):
        msg = f"Health takes an iterable of Check, got {checks!r}"
        raise TypeError(msg)
    result = tuple(checks)
    seen: set[str] = set()
    for check in result:
        if not isinstance(check, Check):
            msg = f"Health takes Check records, got {check!r}; wrap a function as Check('name', fn)"
            raise TypeError(msg)
        if check.name in seen:
            msg = f"Check name {check.name!r} is registered twice; names must be unique"
            raise ValueError(msg)
        seen.add(check.name)
    return result
