"""Health: one registry of checks, served as /health and as Kubernetes probe endpoints."""

from __future__ import annotations

import logging
import math
import re
import weakref
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

import anyio
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._check import Check, require_text
from ._endpoint import DEFAULT_STATUS_CODES, Authorizer, Endpoint, Responder, validate_status_codes
from ._events import Changes, Events, Listener
from ._history import History
from ._hosts import Host, framework_in, framework_of, lifespan_fix
from ._lifecycle import Lifecycle
from ._loops import AsyncioLoop, Loop, asyncio_loop
from ._mount import FirstRequest, Wrapped, check_prefix, install
from ._observe import Observer, Observers
from ._page import Page
from ._probe import DEFAULT_DETAILS, ENDPOINTS, Probe, select
from ._redact import Redactor
from ._refresh import Refresher
from ._render import Document
from ._report import CheckReports, Kept, Report, keep, later, new_report
from ._runner import Selection
from ._settings import DEFAULT_DEADLINE, Settings, probe_arguments
from ._state import CheckState
from ._status import Status
from ._threads import Workers

__all__ = ["DEFAULT_DEADLINE", "Health"]

_log = logging.getLogger("healthkit")

_NO_CHECKS = CheckReports((), fresh_until=math.inf)
AnyObserver = TypeVar("AnyObserver", bound=Observer)


class Health:
    """A registry of checks, run concurrently on every probe and answered as application/health+json.

    A ``Health`` is an ASGI app serving the full report (every check): mount it with
    ``Route("/health", health)``. ``health.routes()`` gives that plus the Kubernetes probes
    ``/livez``, ``/readyz`` and ``/startupz``, each choosing its checks by tag. ``report``,
    ``liveness``, ``readiness`` and ``startup`` take a ``Probe`` to change an endpoint's path,
    checks, deadline, status codes or policy. ``await health.run("readyz")`` runs an endpoint
    from code and returns its ``Report``. Every setting is checked here, when the ``Health`` is
    built, never at request time.
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
        settings = Settings(
            checks=checks,  # type: ignore[arg-type]  # validated (and made a tuple) by Settings
            deadline=deadline,
            status_codes=status_codes,  # type: ignore[arg-type]
            service_id=service_id,
            version=version,
            release_id=release_id,
            description=description,
            notes=notes,  # type: ignore[arg-type]
            links=links,
            cache_control=cache_control,
            max_threads=max_threads,
            cache_ttl=cache_ttl,
            probes=probe_arguments(report, liveness, readiness, startup),
            drain_delay=drain_delay,
            redact=redact,  # type: ignore[arg-type]
            expose_errors=expose_errors,
            authorize=authorize,
        )
        self._build(settings)

    def _build(self, settings: Settings) -> None:
        """Wire the parts: one state per check, one selection and endpoint per probe."""
        self.settings = settings
        self.checks = settings.checks
        self.deadline = settings.deadline
        self.cache_ttl = settings.cache_ttl
        self.status_codes = settings.status_codes
        self.probes = settings.probes
        self._events = Events()
        self._changes = Changes()  # what an endpoint's answer made before holds until (_endpoint)
        self._redact = Redactor(settings.redact)
        workers = Workers(settings.max_threads)
        self._observers = Observers()
        states = [
            CheckState(
                check,
                ttl=settings.cache_ttl if check.cache_ttl is None else check.cache_ttl,
                events=self._events,
                redact=self._redact,
                expose_errors=settings.expose_errors,
                workers=workers,
                observers=self._observers,
                changes=self._changes,
            )
            for check in settings.checks
        ]
        self._asyncio: AsyncioLoop | None = None
        self._kept: dict[str, Kept[Report]] = {}  # endpoint -> its last report, while it holds
        self._host: Host | None = None  # the framework serving this Health, once known
        self._apps: weakref.WeakSet[Starlette] = weakref.WeakSet()  # installed into
        self._refresher = Refresher(states, self._asyncio_loop, lambda: lifespan_fix(self._host))
        self._not_running = self._refresher.not_running
        self._lifecycle = Lifecycle(drain_delay=settings.drain_delay, changes=self._changes)
        document = Document(
            version=settings.version,
            release_id=settings.release_id,
            service_id=settings.service_id,
            description=settings.description,
            notes=settings.notes,
            links=settings.links,
        )
        page = Page(History(self._events), settings)  # /health's status page and ?history
        self._selections: dict[str, Selection] = {}
        self._codes: dict[str, Mapping[Status, int]] = {}
        self._endpoints: dict[str, Endpoint] = {}
        for name, probe in settings.probes.items():
            selection = self._selections[name] = Selection(
                name,
                select(name, probe, settings.checks, states),
                deadline=settings.deadline_of(name),
                events=self._events,
                warn_only=frozenset(probe.warn_only),
            )
            codes = self._codes[name] = (
                settings.status_codes
                if probe.status_codes is None
                else validate_status_codes(probe.status_codes)
            )
            self._endpoints[name] = Endpoint(
                name=name,
                run=self._run,
                checks=tuple(selection.by_name),
                renderer=document,
                responder=Responder(codes, cache_control=settings.cache_control),
                deadline=selection.deadline,
                details=probe.details or DEFAULT_DETAILS[name],
                authorize=settings.authorize,
                observers=self._observers,
                page=page if name == "health" else None,
                changes=self._changes,
            )
        self._document = document
        self._lifecycle.started = not self._selections["startupz"].states
        self._warned: set[str] = set()
        hidden = [e.name for e in self._endpoints.values() if e.details == "when_authorized"]
        if hidden and settings.authorize is None:
            _log.info(
                "%s show details only to authorized requests, and no authorizer is configured: they "
                "answer with statuses only (pass authorize=bearer_token(...), or details='always')",
                ", ".join(hidden),
            )
        self._warn_about_setup(["health"])

    # --- running from code ---

    async def run(
        self, endpoint: str = "health", *, exclude: Collection[str] = (), check: str | None = None
    ) -> Report:
        """Run an endpoint as a probe of it would (``"health"``, ``"livez"``, ``"readyz"`` or
        ``"startupz"``): the same deadline, cache, shared calls, damping, lifecycle and listeners.
        ``exclude`` leaves checks out (the lifecycle still applies); ``check`` runs that one check
        alone, without the lifecycle."""
        selection = self._selections.get(endpoint)
        if selection is None:
            msg = f"Health.run takes one of {', '.join(map(repr, ENDPOINTS))}, got {endpoint!r}"
            raise ValueError(msg)
        if isinstance(exclude, str):
            msg = f"Health.run exclude takes a collection of check names, got one: {exclude!r}"
            raise TypeError(msg)
        names = list(exclude) + ([] if check is None else [check])
        unknown = [name for name in names if name not in selection.by_name]
        if unknown:
            msg = (
                f"{endpoint} has no check named {', '.join(map(repr, unknown))}; "
                f"its checks are: {', '.join(selection.by_name) or 'none'}"
            )
            raise ValueError(msg)
        return await self._run(endpoint, tuple(dict.fromkeys(exclude)), check)

    async def _run(self, endpoint: str, excluded: tuple[str, ...], one: str | None) -> Report:
        if excluded or one is not None:
            return await self._run_now(endpoint, excluded, one)
        kept = self._kept.get(endpoint)
        if kept is not None:
            now = kept.now(self._changes)
            if now is not None:
                return later(kept.value, now - kept.made)
        count = self._changes.count
        report = await self._run_now(endpoint, excluded, one)
        held = keep(report, report, count)
        if held is None:
            self._kept.pop(endpoint, None)
        else:
            self._kept[endpoint] = held
        return report

    async def _run_now(self, endpoint: str, excluded: tuple[str, ...], one: str | None) -> Report:
        selection = self._selections[endpoint]
        loop = self._asyncio_loop() or self._refresher.loop()
        not_running = self._not_running
        if one is not None:
            # One check, as a diagnostic: its own status, without the lifecycle.
            status, reports = await selection.run(loop, not_running, [selection.by_name[one]])
            return self._report(endpoint, status, reports)
        subset = [s for s in selection.states if s.check.name not in excluded] if excluded else None
        lifecycle = self._lifecycle
        left: float | None = None  # what is left of readiness's deadline after the startup checks
        if endpoint == "readyz":
            reason = lifecycle.not_ready()
            if reason is not None:
                line = "shutdown" if lifecycle.draining else "ready"
                return self._report(endpoint, Status.FAIL, _NO_CHECKS, reason, ((line, Status.FAIL, reason),))
            if not lifecycle.started:
                began = anyio.current_time()
                status, reports = await self._start(loop)
                if status is Status.FAIL:
                    reason = "starting: waiting for the startup checks to pass"
                    return self._report(endpoint, status, reports, reason, (("startup", status, reason),))
                # The startup checks ran first: readiness's own checks get what is left of its deadline.
                left = max(selection.deadline - (anyio.current_time() - began), 0.0)
        elif endpoint == "startupz":
            if lifecycle.started:
                started = (("startup", Status.PASS, None),)
                return self._report(endpoint, Status.PASS, _NO_CHECKS, None, started)
            status, reports = await self._start(loop)
            return self._report(endpoint, status, reports)
        status, reports = await selection.run(loop, not_running, subset, left)
        return self._report(endpoint, status, reports, excluded=excluded)

    async def _start(self, loop: Loop | None) -> tuple[Status, CheckReports]:
        """Run the startup checks; once they pass, startup is complete and they stop running."""
        status, reports = await self._selections["startupz"].run(loop, self._not_running)
        if status is not Status.FAIL and not self._lifecycle.started:
            self._lifecycle.started = True
            _log.info("Startup complete: the startup checks passed")
        return status, reports

    def _report(
        self,
        endpoint: str,
        status: Status,
        reports: CheckReports,
        reason: str | None = None,
        lifecycle: tuple[tuple[str, Status, str | None], ...] = (),
        excluded: tuple[str, ...] = (),
    ) -> Report:
        return new_report(
            endpoint,
            status,
            self._codes[endpoint][status],
            reports,
            reason,
            excluded,
            lifecycle,
            self._document,
        )

    def _asyncio_loop(self) -> Loop | None:
        """The seam for the running asyncio loop (one per loop, made once); None on trio."""
        loop = asyncio_loop()
        if loop is None:
            return None
        current = self._asyncio
        if current is None or current.identity is not loop:
            current = self._asyncio = AsyncioLoop(loop)
        return current

    # --- serving ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._host is None:
            self._note(scope)
        await self._endpoints["health"](scope, receive, send)

    def routes(self, *, root: bool = False, prefix: str = "") -> list[BaseRoute]:
        """Routes for ``/health``, ``/livez``, ``/readyz`` and ``/startupz`` (paths as configured,
        after ``prefix``, e.g. ``"/internal"``), each also answering ``<path>/`` and
        ``<path>/<check name>``. ``root=True`` also serves readiness at ``/`` (GET, HEAD, OPTIONS),
        for load balancers that check ``/`` by default (HAProxy's bare ``option httpchk`` sends
        ``OPTIONS /``); an app's own ``GET /`` route listed before these keeps GET."""
        if not isinstance(root, bool):
            msg = f"Health.routes root must be True or False, got {root!r}"
            raise TypeError(msg)
        check_prefix(prefix, "Health.routes")
        routes: list[Route] = []
        for name, endpoint in self._endpoints.items():
            path = prefix + (self.probes[name].path or ENDPOINTS[name])
            routes.append(Route(path, endpoint, name=name))
            routes.append(Route(path.rstrip("/") + "/{name:path}", endpoint, name=f"{name}-check"))
        if root:
            readyz = self._endpoints["readyz"]
            routes.append(Route("/", readyz, methods=["GET", "HEAD", "OPTIONS"], name="readyz-root"))
        for route in routes:
            FirstRequest(route, self._note)  # learns which framework serves them
        self._warn_about_setup(list(self._endpoints))
        return list(routes)

    def install(self, app: Starlette, *, prefix: str = "", root: bool = False) -> None:
        """Serve this Health from a Starlette or FastAPI app in one call: its routes
        (``routes(prefix=..., root=...)``) go in front of the app's own, and its lifespan runs
        inside the app's own lifespan, whatever that is (none, ``lifespan=``, FastAPI's merged
        routers' lifespans): after the app's start-up, before its shutdown. Call it once the app
        is complete (after ``include_router``), once per app, on the app the server serves. For
        Django and other ASGI apps, ``wrap``."""
        if not isinstance(app, Starlette):
            msg = f"health.install takes a Starlette or FastAPI app, got {_described(app)}"
            raise TypeError(msg)
        if app in self._apps:
            msg = "health.install(app) was already called for this app; call it once"
            raise RuntimeError(msg)
        if getattr(app.router.lifespan_context, "__self__", None) is self:
            msg = (
                "The app already runs this Health's lifespan (lifespan=health.lifespan), and "
                "health.install runs it too: create the app without lifespan=health.lifespan"
            )
            raise ValueError(msg)
        install(app, self.routes(prefix=prefix, root=root), self.running)
        self._apps.add(app)
        self._host = Host(framework_of(app), "installed")

    def wrap(self, app: ASGIApp, *, prefix: str = "", root: bool = False) -> ASGIApp:
        """An ASGI app serving this Health in front of ``app``, for Django (``application =
        health.wrap(get_asgi_application())``) and any other ASGI app: requests for its routes
        (``routes(prefix=..., root=...)``) are answered by healthkit, every other request goes to
        ``app``, and the server's lifespan runs the app's own lifespan (if it handles one; Django
        does not), then healthkit's inside it. Serve the returned app."""
        if not callable(app):
            msg = f"health.wrap takes an ASGI app (a callable taking scope, receive, send), got {app!r}"
            raise TypeError(msg)
        if isinstance(app, Wrapped) and app.owner is self:
            msg = "This app is already health.wrap()'s: wrap the app once"
            raise RuntimeError(msg)
        wrapped = Wrapped(app, self.routes(prefix=prefix, root=root), self.running, self)
        self._host = Host(framework_of(app), "wrapped")
        return wrapped

    def _note(self, scope: Scope) -> None:
        """A route's first request: which framework serves it, unless install or wrap said so."""
        if self._host is None or self._host.how == "seen":
            self._host = Host(framework_in(scope), "seen")

    def set_ready(self, ready: bool = True, reason: str | None = None) -> None:
        """Mark the service ready, or not ready (maintenance, draining a worker) with a reason
        that readiness reports. Liveness is not affected."""
        if not isinstance(ready, bool):
            msg = f"set_ready takes True or False, got {ready!r}"
            raise TypeError(msg)
        require_text("set_ready reason", reason)
        self._lifecycle.set_ready(ready, None if reason is None else self._redact.clipped(reason, 256))

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

    def observe(self, observer: AnyObserver) -> AnyObserver:
        """Send ``observer`` every call of a check that ends (``observer.call_ended``) and every
        probe answered (``observer.probe_answered``): what metrics and traces are built on.
        Observers run on the event loop and must be quick; one that raises is logged once and
        never changes an answer. Returns the observer."""
        self._observers.add(observer)
        return observer

    def running(self) -> AbstractAsyncContextManager[None]:
        """The background part of this Health: refreshes checks with ``refresh_every``, owns
        calls that outlive a probe, and drains on SIGTERM when ``drain_delay`` is set. Enter it
        in the app's lifespan; leaving it stops everything."""
        return self._running()

    def lifespan(self, app: object) -> AbstractAsyncContextManager[None]:
        """A Starlette lifespan: ``Starlette(routes=..., lifespan=health.lifespan)``. For an app
        with a lifespan of its own, ``health.install(app)`` runs both."""
        return self._running()

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        async with self._refresher.running():
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

    # --- start-up warnings ---

    def _warn_about_setup(self, endpoints: Sequence[str]) -> None:
        """Warn, once per endpoint and only for endpoints that are served, about set-ups that
        hurt in production."""
        for name in endpoints:
            if name in self._warned:
                continue
            self._warned.add(name)
            selection, probe = self._selections[name], self.probes[name]
            for state in selection.states:
                check = state.check
                # A background check's timeout never bounds a probe: probes read its latest result.
                if check.refresh_every is None and check.timeout > selection.deadline:
                    _log.warning(
                        "Check %r has timeout %ss, longer than the deadline of %s (%ss): it is cut there",
                        check.name,
                        check.timeout,
                        name,
                        selection.deadline,
                    )
            if name == "health":
                continue
            if selection.deadline >= probe.timeout_seconds:
                _log.warning(
                    "%s deadline %ss is not shorter than its kubelet timeoutSeconds %ss: the kubelet "
                    "gives up before healthkit answers; lower the deadline or raise timeoutSeconds",
                    name,
                    selection.deadline,
                    probe.timeout_seconds,
                )
            if name == "livez":
                for state in selection.states:
                    if state.check.external:
                        _log.warning(
                            "Check %r checks an external dependency but is in the liveness probe: when "
                            "it fails the kubelet restarts healthy pods; move it to readiness",
                            state.check.name,
                        )
            drain_delay = self.settings.drain_delay
            if name == "readyz" and drain_delay is not None and drain_delay < probe.period_seconds:
                _log.warning(
                    "drain_delay %ss is shorter than the readiness periodSeconds %ss: the server may stop "
                    "before the kubelet has seen readiness fail",
                    drain_delay,
                    probe.period_seconds,
                )

    def __repr__(self) -> str:
        names = ", ".join(check.name for check in self.checks)
        return f"Health([{names}], deadline={self.deadline})"


def _described(app: object) -> str:
    """An app that ``install`` cannot take, and what takes it."""
    if framework_of(app) == "Django":
        return (
            f"Django's {type(app).__name__}: serve application = health.wrap(get_asgi_application()) "
            "instead (Django hands no lifespan to the app; wrap gives healthkit its lifespan)"
        )
    return f"{type(app).__name__}: serve health.wrap(app) instead, which takes any ASGI app"
