"""Serving a Health from an app in one call: ``install`` (Starlette, FastAPI) and ``Wrapped`` (any
ASGI app: Django, plain ASGI).

Both put healthkit's routes in front of the app's own and run healthkit's lifespan **inside** the
app's: the app's start-up (its pools, clients) runs first, then healthkit's (background checks
call those pools, the drain goes in front of the server's signal handlers), and only then does
the server serve. At shutdown healthkit's part ends first (its calls stopped), then the app's.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._hosts import framework_of

__all__ = ["FirstRequest", "Wrapped", "check_prefix", "install"]

_log = logging.getLogger("healthkit")

Running = Callable[[], AbstractAsyncContextManager[None]]


def check_prefix(prefix: object, where: str) -> str:
    """A path prefix for healthkit's routes: "" or "/a/path" (no trailing "/")."""
    if not isinstance(prefix, str) or (prefix and (not prefix.startswith("/") or prefix.endswith("/"))):
        msg = (
            f"{where} prefix must be '' or a path such as '/internal' (starting with '/', not "
            f"ending with one), got {prefix!r}"
        )
        raise ValueError(msg)
    return prefix


def install(app: Starlette, routes: Sequence[BaseRoute], running: Running) -> None:
    """Put ``routes`` in front of the app's routes (a root route, behind them) and run ``running()``
    inside the app's lifespan."""
    router = app.router
    root = [route for route in routes if isinstance(route, Route) and route.path == "/"]
    paths = [route for route in routes if route not in root]
    taken = {getattr(route, "path", None) for route in router.routes}
    clash = [route.path for route in paths if isinstance(route, Route) and route.path in taken]
    if clash:
        msg = (
            f"health.install: the app already has a route for {', '.join(map(repr, clash))}; "
            "remove it, or give healthkit's routes a prefix (health.install(app, prefix='/internal'))"
        )
        raise ValueError(msg)
    own = router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        async with own(served) as state, running():
            yield state  # the app's lifespan state (a dict, or None), as the app gave it

    router.lifespan_context = lifespan
    router.routes[:0] = paths
    router.routes.extend(root)


class Wrapped:
    """An ASGI app: healthkit's routes and lifespan in front of another ASGI app.

    Requests for healthkit's paths are answered here; every other request, and every websocket,
    goes to the app unchanged. The server's lifespan runs the app's own lifespan first (unless the
    app does not handle one: Django, or an app that returns or raises without answering), then
    healthkit's; at shutdown, the other way round.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], running: Running, owner: object) -> None:
        self.app = app
        self.owner = owner  # the Health, to refuse wrapping twice
        self._routes = tuple(routes)
        self._running = running
        self._framework = framework_of(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            for route in self._routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await route.handle(scope, receive, send)
                    return
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "lifespan.startup":
            return
        own = None if self._framework == "Django" else _AppLifespan(self.app, scope)  # Django refuses one
        try:
            async with anyio.create_task_group() as group:
                answer = await self._served(own, group, receive, send)
                group.cancel_scope.cancel()  # an app that lingers after answering holds nothing up
        finally:
            if own is not None:
                own.close()
        await send(answer)

    async def _served(
        self, own: _AppLifespan | None, group: TaskGroup, receive: Receive, send: Send
    ) -> Message:
        """The app's start-up, healthkit's lifespan while the server serves, the app's shutdown;
        what to answer the server at the end."""
        if own is not None:
            group.start_soon(own.run)
            answer = await own.tell("startup")
            if answer is None:
                _log.info(
                    "The %s app handles no lifespan (%s): healthkit's lifespan runs alone",
                    type(self.app).__name__,
                    own.ended,
                )
                own = None
            elif answer["type"] != "lifespan.startup.complete":
                return {"type": "lifespan.startup.failed", "message": str(answer.get("message", ""))}
        failed: Message | None = None
        started = False
        try:
            async with self._running():
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except Exception:
            kind = "shutdown" if started else "startup"
            failed = {"type": f"lifespan.{kind}.failed", "message": traceback.format_exc()}
        if own is not None:
            answer = await own.tell("shutdown")
            if answer is not None and answer["type"] != "lifespan.shutdown.complete" and failed is None:
                failed = {"type": "lifespan.shutdown.failed", "message": str(answer.get("message", ""))}
        return failed or {"type": "lifespan.shutdown.complete"}

    def __repr__(self) -> str:
        return f"<healthkit routes and lifespan in front of {self.app!r}>"


class _AppLifespan:
    """Drives the lifespan of a wrapped app, as a server would."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self._app = app
        self._scope = scope  # the server's lifespan scope, its "state" included
        self._to_app, self._inbox = anyio.create_memory_object_stream[Message](1)
        self._outbox, self._from_app = anyio.create_memory_object_stream[Message](1)
        self.ended = "it returned"

    async def run(self) -> None:
        try:
            await self._app(self._scope, self._inbox.receive, self._outbox.send)
        except Exception as exc:
            self.ended = f"it raised {type(exc).__name__}"
        finally:  # the app has returned: tell() sees it
            self._inbox.close()
            self._outbox.close()

    def close(self) -> None:
        for stream in (self._to_app, self._inbox, self._outbox, self._from_app):
            stream.close()

    async def tell(self, event: str) -> Message | None:
        """Send ``lifespan.<event>``; the app's answer, or None when it ended without one."""
        try:
            await self._to_app.send({"type": f"lifespan.{event}"})
            return await self._from_app.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return None


class FirstRequest:
    """A route's app until its first request, which ``note`` is told the scope of; from then on the
    route calls its endpoint directly, so later requests pay nothing."""

    __slots__ = ("_endpoint", "_note", "_route")

    def __init__(self, route: Route, note: Callable[[Scope], None]) -> None:
        self._route = route
        self._endpoint = route.app
        self._note = note
        route.app = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._route.app = self._endpoint
        self._note(scope)
        await self._endpoint(scope, receive, send)
