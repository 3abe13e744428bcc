"""Health: one registry of checks, served as /health and as Kubernetes probe endpoints."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType

from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from . import _probe
from ._auth import Authorizer
from ._check import Check, require_seconds, require_text, validate_links
from ._endpoint import DEFAULT_STATUS_CODES, Responder, validate_status_codes
from ._engine import Engine
from ._events import Events, Listener
from ._lifecycle import Lifecycle
from ._probe import ROLES, Endpoint, Probe, select
from ._redact import Redactor
from ._report import Document, clip
from ._runner import Runner
from ._status import Status

__all__ = ["DEFAULT_DEADLINE", "Health"]

_log = logging.getLogger("healthkit")

#: Seconds after which every unfinished check is reported as timed out and the answer is sent.
#: Below the kubelet's default probe timeout (1 s), with room for the request around it.
DEFAULT_DEADLINE = 0.8


class Health:
    """A registry of checks, run concurrently on every probe and answered as application/health+json.

    A ``Health`` is an ASGI app serving the full report (every check): mount it with
    ``Route("/health", health)``. ``health.routes()`` gives that plus the Kubernetes probes
    ``/livez``, ``/readyz`` and ``/startupz``, each choosing its checks by tag. ``report``,
    ``liveness``, ``readiness`` and ``startup`` take a ``Probe`` to change an endpoint's path,
    checks, deadline, status codes or policy. Every setting is checked here, when the ``Health``
    is built, never at request time.
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
        report: Probe | None = None,
        liveness: Probe | None = None,
        readiness: Probe | None = None,
        startup: Probe | None = None,
        drain_delay: float | None = None,
        redact: Sequence[str | re.Pattern[str]] = (),
        expose_errors: bool = False,
        authorize: Authorizer | None = None,
    ) -> None:
        self.checks = _validate_checks(checks)
        require_seconds("Health", "deadline", deadline)
        require_seconds("Health", "cache_ttl", cache_ttl, allow_zero=True)
        if drain_delay is not None:
            require_seconds("Health", "drain_delay", drain_delay, allow_zero=True)
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
        probes = {"health": report, "live": liveness, "ready": readiness, "startup": startup}
        for probe, argument in zip(
            probes.values(), ("report", "liveness", "readiness", "startup"), strict=True
        ):
            if probe is not None and not isinstance(probe, Probe):
                msg = f"Health {argument} must be a Probe, got {probe!r}"
                raise TypeError(msg)
        for check in self.checks:
            ttl = self.cache_ttl if check.cache_ttl is None else check.cache_ttl
            if check.stale_while_revalidate and not ttl:
                msg = (
                    f"Check {check.name!r}: stale_while_revalidate needs a cache: give the check or "
                    "the Health a cache_ttl above 0"
                )
                raise ValueError(msg)

        if not isinstance(expose_errors, bool):
            msg = f"Health expose_errors must be True or False, got {expose_errors!r}"
            raise TypeError(msg)
        if isinstance(redact, str | re.Pattern):
            msg = f"Health redact takes a list of patterns, got one: {redact!r}; write redact=[...]"
            raise TypeError(msg)
        redactor = Redactor(redact)
        if authorize is not None and not callable(authorize):
            msg = f"Health authorize must be a callable taking the request (bearer_token), got {authorize!r}"
            raise TypeError(msg)
        self._events = Events()
        self._engine = Engine(
            self.checks,
            cache_ttl=self.cache_ttl,
            max_threads=max_threads,
            events=self._events,
            expose_errors=expose_errors,
            redact=redactor,
        )
        self._redact = redactor
        self._lifecycle = Lifecycle(drain_delay=drain_delay)
        document = Document(
            redact=redactor,
            version=version,
            release_id=release_id,
            service_id=service_id,
            description=description,
            notes=tuple(notes),
            links=validate_links("Health links", links) if links is not None else None,
        )
        slots = list(self._engine.slots.values())
        self.probes: Mapping[str, Probe] = MappingProxyType(
            {role: probe or Probe() for role, probe in probes.items()}
        )
        self._endpoints: dict[str, Endpoint] = {}
        runners: dict[str, Runner] = {}
        for role in ("startup", "health", "live", "ready"):
            probe = self.probes[role]
            probe_deadline = self.deadline if probe.deadline is None else probe.deadline
            codes = (
                self.status_codes if probe.status_codes is None else validate_status_codes(probe.status_codes)
            )
            runners[role] = Runner(
                self._engine,
                select(role, probe, slots),
                deadline=probe_deadline,
                events=self._events,
                probe=ROLES[role][0],
                warn_only=frozenset(probe.warn_only),
            )
            self._endpoints[role] = Endpoint(
                role=role,
                runner=runners[role],
                document=document,
                responder=Responder(codes, cache_control=cache_control),
                lifecycle=self._lifecycle,
                startup=runners["startup"],
                details=probe.details or _probe.DEFAULT_DETAILS[role],
                authorize=authorize,
            )
        self._lifecycle.started = not runners["startup"].slots
        hidden = [e.name for e in self._endpoints.values() if e.details == "when_authorized"]
        if hidden and authorize is None:
            _log.info(
                "%s show details only to authorized requests, and no authorizer is configured: they "
                "answer with statuses only (pass authorize=bearer_token(...), or details='always')",
                ", ".join(hidden),
            )
        self._warn_about_setup(runners, drain_delay)

    def _warn_about_setup(self, runners: Mapping[str, Runner], drain_delay: float | None) -> None:
        for check in self.checks:
            cut = [
                f"{ROLES[role][0]} ({runner.deadline}s)"
                for role, runner in runners.items()
                if check.timeout > runner.deadline and any(slot.check is check for slot in runner.slots)
            ]
            if cut:
                _log.warning(
                    "Check %r has timeout %ss, longer than the deadline of %s: it will be cut there",
                    check.name,
                    check.timeout,
                    ", ".join(cut),
                )
        for role, runner in runners.items():
            name = ROLES[role][0]
            if role == "health":
                continue
            probe = self.probes[role]
            if runner.deadline >= probe.timeout_seconds:
                _log.warning(
                    "%s deadline %ss is not shorter than its kubelet timeoutSeconds %ss: the kubelet "
                    "gives up before healthkit answers; lower the deadline or raise timeoutSeconds",
                    name,
                    runner.deadline,
                    probe.timeout_seconds,
                )
        for slot in runners["live"].slots:
            if slot.check.external:
                _log.warning(
                    "Check %r checks an external dependency but is in the liveness probe: when it "
                    "fails the kubelet restarts healthy pods; move it to readiness",
                    slot.check.name,
                )
        period = self.probes["ready"].period_seconds
        if drain_delay is not None and drain_delay < period:
            _log.warning(
                "drain_delay %ss is shorter than the readiness periodSeconds %ss: the server may stop "
                "before the kubelet has seen readiness fail",
                drain_delay,
                period,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._endpoints["health"](scope, receive, send)

    def routes(self, *, root: bool = False) -> list[BaseRoute]:
        """Routes for ``/health``, ``/livez``, ``/readyz`` and ``/startupz`` (paths as configured),
        each also answering ``<path>/`` and ``<path>/<check name>``.

        ``root=True`` adds readiness at ``/`` for GET, HEAD and OPTIONS (route name
        ``readyz-root``), for HAProxy's bare ``option httpchk``, which sends ``OPTIONS /``. A
        ``GET /`` route of the app listed before these routes keeps ``GET /`` and ``HEAD /``.
        """
        if not isinstance(root, bool):
            msg = f"Health.routes root must be True or False, got {root!r}"
            raise TypeError(msg)
        routes: list[BaseRoute] = []
        for role, endpoint in self._endpoints.items():
            path = self.probes[role].path or ROLES[role][1]
            routes.append(Route(path, endpoint, name=endpoint.name))
            routes.append(Route(path.rstrip("/") + "/{name:path}", endpoint, name=f"{endpoint.name}-check"))
        if root:
            ready = self._endpoints["ready"]
            routes.append(Route("/", ready, methods=["GET", "HEAD", "OPTIONS"], name=f"{ready.name}-root"))
        return routes

    def set_ready(self, ready: bool = True, reason: str | None = None) -> None:
        """Mark the service ready, or not ready (maintenance, draining a worker) with a reason
        that readiness reports. Liveness is not affected."""
        if not isinstance(ready, bool):
            msg = f"set_ready takes True or False, got {ready!r}"
            raise TypeError(msg)
        require_text("set_ready reason", reason)
        self._lifecycle.set_ready(ready, None if reason is None else clip(self._redact(reason), 256))

    async def shutdown_trigger(self) -> None:
        """For hypercorn: ``serve(app, config, shutdown_trigger=health.shutdown_trigger)``.
        Returns at once on SIGINT, and after ``drain_delay`` on SIGTERM (readiness fails meanwhile)."""
        await self._lifecycle.shutdown_trigger()

    def on_change(self, listener: Listener) -> Listener:
        """Call ``listener(change)`` whenever a check's reported status or a probe's overall
        status changes. Listeners run on the event loop and must not block; exceptions are
        logged. Returns the listener, so this works as a decorator."""
        self._events.subscribe(listener)
        return listener

    def running(self) -> AbstractAsyncContextManager[None]:
        """The background part of this Health: refreshes checks with ``refresh_every``, owns
        calls that outlive a probe, and drains on SIGTERM when ``drain_delay`` is set. Enter it
        in the app's lifespan; leaving it stops everything."""
        return self._running()

    def lifespan(self, app: object) -> AbstractAsyncContextManager[None]:
        """A Starlette lifespan: ``Starlette(routes=..., lifespan=health.lifespan)``."""
        return self._running()

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        async with self._engine.running():
            self._lifecycle.install()
            try:
                yield
            finally:
                self._lifecycle.uninstall()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Mounted as the whole app: run the lifespan."""
        message: Message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with self.running():
            await send({"type": "lifespan.startup.complete"})
            while message["type"] != "lifespan.shutdown":
                message = await receive()
        await send({"type": "lifespan.shutdown.complete"})

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
