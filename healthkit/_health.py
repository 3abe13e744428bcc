"""Health: a set of checks served as one health endpoint (an ASGI app)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from starlette.types import Message, Receive, Scope, Send

from ._check import Check, validate_links
from ._endpoint import ALLOWED_METHODS, DEFAULT_STATUS_CODES, Responder, validate_status_codes
from ._report import Document
from ._runner import Runner
from ._status import Status, worst

__all__ = ["DEFAULT_DEADLINE", "Health"]

_log = logging.getLogger("healthkit")

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
    ) -> None:
        self.checks = _validate_checks(checks)
        self.deadline = _validate_deadline(deadline)
        self.status_codes: Mapping[Status, int] = MappingProxyType(validate_status_codes(status_codes))
        for what, value in (
            ("service_id", service_id),
            ("version", version),
            ("release_id", release_id),
            ("description", description),
        ):
            if value is not None and not isinstance(value, str):
                msg = f"Health {what} must be a string or None, got {value!r}"
                raise TypeError(msg)
        if isinstance(notes, str) or not all(isinstance(note, str) for note in notes):
            msg = f"Health notes must be a sequence of strings, got {notes!r}"
            raise TypeError(msg)
        if cache_control is not None and not (isinstance(cache_control, str) and cache_control.isascii()):
            msg = f"Health cache_control must be an ASCII header value or None, got {cache_control!r}"
            raise ValueError(msg)
        if isinstance(max_threads, bool) or not isinstance(max_threads, int) or max_threads < 1:
            msg = f"Health max_threads must be a whole number of at least 1, got {max_threads!r}"
            raise ValueError(msg)
        for check in self.checks:
            if check.timeout > self.deadline:
                _log.warning(
                    "Check %r has timeout %ss, longer than the deadline %ss: it will be cut at %ss",
                    check.name,
                    check.timeout,
                    self.deadline,
                    self.deadline,
                )
        self._runner = Runner(self.checks, deadline=self.deadline, max_threads=max_threads)
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
            await _not_http(kind, receive, send)
            return
        method = scope["method"]
        if method not in ALLOWED_METHODS:
            await self._responder.method_not_allowed(send)
            return
        observations = await self._runner.run()
        status = worst(obs.contribution for obs in observations)
        body = self._document.render(status, observations)
        await self._responder.health(method, status, body, send)

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


def _validate_deadline(deadline: float) -> float:
    if isinstance(deadline, bool) or not isinstance(deadline, int | float):
        msg = f"Health deadline must be a number of seconds, got {deadline!r}"
        raise TypeError(msg)
    if not (deadline > 0 and math.isfinite(deadline)):
        msg = f"Health deadline must be a positive, finite number of seconds, got {deadline!r}"
        raise ValueError(msg)
    return float(deadline)


async def _not_http(kind: str, receive: Receive, send: Send) -> None:
    """Mounted as the whole app: finish the lifespan handshake; refuse websockets."""
    if kind == "lifespan":
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif kind == "websocket":
        await send({"type": "websocket.close", "code": 1008})
