"""One call to serve a Health from an app: health.install (Starlette, FastAPI) and health.wrap (any
ASGI app), in-process on both loops; tests/test_recipes.py runs them under real servers."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import anyio
import httpx2
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from healthkit import Check, Health, Result, Status
from tests.conftest import document, probe, request


class Resource:
    """What an app's lifespan opens (a pool), and what happened to it, in order."""

    def __init__(self) -> None:
        self.open = False
        self.events: list[str] = []

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[dict[str, Any]]:
        self.events.append("app start-up")
        self.open = True
        yield {"pool": self}
        self.events.append("app shutdown")
        self.open = False

    def health(self) -> Health:
        """A Health whose background check calls the pool at once, and is still in its call (the
        pool's query hangs) when the lifespan ends."""

        async def pool_query() -> None:
            self.events.append(f"check called, pool {'open' if self.open else 'closed'}")
            try:
                await anyio.sleep_forever()
            finally:
                self.events.append(f"check stopped, pool {'open' if self.open else 'closed'}")

        return Health([Check("pool", pool_query, refresh_every=60, timeout=30)])


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[MutableMapping[str, Any]]:
    """Run an ASGI app's lifespan as a server does (with lifespan state); yields the state."""
    state: dict[str, Any] = {}
    to_app, inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    outbox, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    async with to_app, inbox, outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(app, scope, inbox.receive, outbox.send)
        await to_app.send({"type": "lifespan.startup"})
        answer = await from_app.receive()
        assert "lifespan.startup.complete" == answer["type"], answer.get("message")
        yield state
        await to_app.send({"type": "lifespan.shutdown"})
        assert "lifespan.shutdown.complete" == (await from_app.receive())["type"]


async def until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not condition():
            await anyio.sleep(0.005)


def starlette_app(resource: Resource) -> Starlette:
    return Starlette(routes=[Route("/", home)], lifespan=resource.lifespan)


def fastapi_app(resource: Resource) -> FastAPI:
    app = FastAPI(lifespan=resource.lifespan)
    app.add_api_route("/", home)
    return app


def fastapi_with_router(resource: Resource) -> FastAPI:
    """The lifespan comes from an included router (FastAPI merges it into the app's)."""
    router = APIRouter(lifespan=resource.lifespan)
    router.add_api_route("/", home)
    app = FastAPI()
    app.include_router(router)
    return app


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("home")


APPS = [starlette_app, fastapi_app, fastapi_with_router]


@pytest.mark.parametrize("make", APPS, ids=lambda make: make.__name__)
async def test_install_runs_healthkit_inside_the_apps_lifespan(make: Callable[[Resource], Starlette]) -> None:
    resource = Resource()
    health = resource.health()
    app = make(resource)
    health.install(app)

    async with served(app) as state:
        await until(lambda: len(resource.events) == 2)
        live = await request(app, path="/livez")
        home = await request(app, path="/")

    assert [
        "app start-up",
        "check called, pool open",
        "check stopped, pool open",
        "app shutdown",
    ] == resource.events
    assert {"pool": resource} == state  # the app's lifespan state reaches the server
    assert 200 == live.status_code
    assert "home" == home.text


@pytest.mark.parametrize("kind", [Starlette, FastAPI])
async def test_install_into_an_app_without_a_lifespan(kind: type[Starlette]) -> None:
    calls: list[float] = []

    async def background() -> None:
        calls.append(anyio.current_time())

    health = Health([Check("cache", background, refresh_every=60)])
    app = kind()
    health.install(app)

    async with served(app):
        await until(lambda: len(calls) == 1)
        answer = await request(app, path="/health")

    assert "pass" == document(answer)["checks"]["cache"][0]["status"]


async def test_install_serves_every_endpoint_in_front_of_the_apps_routes() -> None:
    async def catch_all(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the app's")

    health = Health([Check("db", lambda: None)])
    app = Starlette(routes=[Route("/{path:path}", catch_all)])
    health.install(app)

    codes = [(await request(app, path=path)).status_code for path in ("/health", "/livez", "/startupz")]
    one = await request(app, path="/readyz/db")
    other = await request(app, path="/orders")

    assert [200, 200, 200] == codes
    assert ["db"] == list(document(one)["checks"])
    assert "the app's" == other.text


async def test_install_with_a_prefix_and_root() -> None:
    health = Health([Check("db", lambda: None)])
    app = Starlette(routes=[Route("/", home)])
    health.install(app, prefix="/internal", root=True)

    prefixed = await request(app, path="/internal/readyz")
    bare = await request(app, path="/readyz")
    home_page = await request(app, path="/")
    options = await request(app, "OPTIONS", path="/")

    assert 200 == prefixed.status_code
    assert 404 == bare.status_code
    assert "home" == home_page.text  # the app's own GET / keeps GET
    assert 200 == options.status_code
    assert "pass" == document(options)["status"]


async def test_install_leaves_fastapis_schema_to_the_apps_own_routes() -> None:
    app = fastapi_app(Resource())
    Health([Check("db", lambda: None)]).install(app)

    schema = await request(app, path="/openapi.json")

    assert ["/"] == list(schema.json()["paths"])


def test_install_twice_is_refused() -> None:
    health = Health()
    app = Starlette()
    health.install(app)

    with pytest.raises(RuntimeError, match=r"health.install\(app\) was already called for this app"):
        health.install(app)


def test_install_refuses_an_app_that_runs_the_lifespan_already() -> None:
    health = Health()
    app = FastAPI(lifespan=health.lifespan)

    with pytest.raises(ValueError, match=r"create the app without lifespan=health\.lifespan"):
        health.install(app)


def test_install_refuses_a_path_the_app_serves_already() -> None:
    app = Starlette(routes=[Route("/health", home)])

    with pytest.raises(ValueError, match=r"already has a route for '/health'; .* prefix='/internal'"):
        Health().install(app)


def test_a_second_health_on_the_same_paths_is_refused_and_another_prefix_is_not() -> None:
    app = Starlette()
    Health().install(app)

    clash = re.escape("already has a route for '/health', '/health/{name:path}'")
    with pytest.raises(ValueError, match=clash):
        Health().install(app)
    Health().install(app, prefix="/other")


def test_install_takes_starlette_apps_and_names_wrap_for_the_rest() -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    with pytest.raises(TypeError, match=r"got function: serve health.wrap\(app\) instead"):
        Health().install(plain)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["internal", "/internal/", 3])
def test_a_prefix_is_a_path(prefix: Any) -> None:
    with pytest.raises(ValueError, match=r"prefix must be '' or a path such as '/internal'"):
        Health().routes(prefix=prefix)


# --- wrap: any ASGI app ---


class PlainApp:
    """A plain ASGI app with a lifespan of its own (``lifespan``: "handled", "returns", "raises",
    "fails"), answering every request itself."""

    def __init__(self, resource: Resource, lifespan: str = "handled") -> None:
        self.resource = resource
        self.lifespan = lifespan
        self.scopes: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope["type"])
        if scope["type"] == "lifespan":
            if self.lifespan == "returns":
                return
            if self.lifespan == "raises":  # as Django does
                raise ValueError("this app can only handle http")
            await receive()
            if self.lifespan == "fails":
                await send({"type": "lifespan.startup.failed", "message": "no database"})
                return
            async with self.resource.lifespan(self) as state:
                scope["state"].update(state)
                await send({"type": "lifespan.startup.complete"})
                await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": f"app {scope['path']}".encode()})


async def test_wrap_runs_healthkit_inside_a_plain_apps_lifespan() -> None:
    resource = Resource()
    health = resource.health()
    app = health.wrap(PlainApp(resource))

    async with served(app) as state:
        await until(lambda: len(resource.events) == 2)
        live = await request(app, path="/livez")
        other = await request(app, path="/orders")

    assert [
        "app start-up",
        "check called, pool open",
        "check stopped, pool open",
        "app shutdown",
    ] == resource.events
    assert {"pool": resource} == state
    assert 200 == live.status_code
    assert "app /orders" == other.text


@pytest.mark.parametrize("lifespan", ["returns", "raises"])
async def test_wrap_runs_healthkit_alone_for_an_app_without_a_lifespan(lifespan: str) -> None:
    calls: list[float] = []

    async def background() -> None:
        calls.append(anyio.current_time())

    health = Health([Check("cache", background, refresh_every=60)])
    app = health.wrap(PlainApp(Resource(), lifespan))

    async with served(app):
        await until(lambda: len(calls) == 1)
        answer = await request(app, path="/health")

    assert "pass" == document(answer)["checks"]["cache"][0]["status"]


async def test_wrap_reports_the_apps_failed_start_up_and_starts_nothing() -> None:
    calls: list[float] = []

    async def background() -> None:
        calls.append(anyio.current_time())

    app = Health([Check("cache", background, refresh_every=60)]).wrap(PlainApp(Resource(), "fails"))
    to_app, inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    outbox, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)
    async with to_app, inbox, outbox, from_app:
        await to_app.send({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        with anyio.fail_after(5):
            await app(scope, inbox.receive, outbox.send)
        answer = await from_app.receive()

    assert {"type": "lifespan.startup.failed", "message": "no database"} == answer
    assert [] == calls


async def test_wrap_tells_the_app_to_shut_down_when_healthkit_cannot_start() -> None:
    resource = Resource()
    health = Health()
    app = health.wrap(PlainApp(resource))
    to_app, inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    outbox, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)

    async with health.running(), to_app, inbox, outbox, from_app:  # already running: cannot start
        await to_app.send({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        with anyio.fail_after(5):
            await app(scope, inbox.receive, outbox.send)
        answer = await from_app.receive()

    assert "lifespan.startup.failed" == answer["type"]
    assert "lifespan is already running" in answer["message"]
    assert ["app start-up", "app shutdown"] == resource.events


async def test_wrap_answers_its_paths_and_hands_everything_else_to_the_app() -> None:
    plain = PlainApp(Resource())
    app = Health([Check("db", lambda: None)]).wrap(plain, prefix="/internal")
    transport = httpx2.ASGITransport(app=app)

    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        ready = await client.get("/internal/readyz/db")
        posted = await client.post("/internal/readyz")
        other = await client.get("/readyz")

    assert ["db"] == list(document(ready)["checks"])
    assert 405 == posted.status_code  # healthkit's path: healthkit answers, whatever the method
    assert "app /readyz" == other.text
    assert ["http"] == plain.scopes  # only the request for a path not healthkit's reached the app


async def test_wrap_hands_websockets_to_the_app() -> None:
    plain = PlainApp(Resource())
    app = Health().wrap(plain)
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app({"type": "websocket", "path": "/health", "headers": []}, receive, send)

    assert ["websocket"] == plain.scopes
    assert [{"type": "websocket.close", "code": 1000}] == sent


def test_wrap_twice_is_refused() -> None:
    health = Health()
    app = health.wrap(PlainApp(Resource()))

    with pytest.raises(RuntimeError, match="wrap the app once"):
        health.wrap(app)


# --- a missing lifespan: the fix for the framework in use ---


def background_health() -> Health:
    return Health([Check("cache", lambda: Result(Status.PASS), refresh_every=60)])


async def output(app: Any, path: str = "/health") -> str:
    code, body = await probe(app, path=path)
    assert 503 == code
    text: str = body["checks"]["cache"][0]["output"]
    return text


async def test_the_fix_for_starlette() -> None:
    health = background_health()

    text = await output(Starlette(routes=health.routes()))

    assert (
        "background refresh is not running: run the app with lifespan=health.lifespan, or call "
        "health.install(app)" == text
    )


async def test_the_fix_for_fastapi() -> None:
    health = background_health()
    app = FastAPI()
    app.router.routes.extend(health.routes())

    text = await output(app)

    assert text.startswith("background refresh is not running: call health.install(app), which adds")


async def dispatcher_to(health: Health) -> Callable[[Scope, Receive, Send], Any]:
    """A hand-written dispatcher that sends /health to healthkit and forgets the lifespan."""
    (route, *_) = health.routes()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        _, child = route.matches(scope)
        scope.update(child)
        await route.handle(scope, receive, send)

    return app


async def test_the_fix_for_django(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "django.core.handlers.asgi", ModuleType("django.core.handlers.asgi"))
    health = background_health()

    text = await output(await dispatcher_to(health))

    assert (
        "background refresh is not running: Django hands no lifespan to the app: in asgi.py, serve "
        "application = health.wrap(get_asgi_application())" == text
    )


async def test_the_fix_for_a_plain_asgi_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "django.core.handlers.asgi", raising=False)
    health = background_health()

    text = await output(await dispatcher_to(health))

    assert (
        "background refresh is not running: hand the lifespan to healthkit: serve health.wrap(app), "
        "which runs the app's own lifespan too" == text
    )


async def test_the_fix_when_the_server_ran_no_lifespan() -> None:
    installed, wrapped = background_health(), background_health()
    app = FastAPI()
    installed.install(app)

    text = await output(app)
    wrapped_text = await output(wrapped.wrap(PlainApp(Resource())))

    assert text.startswith(
        "background refresh is not running: the server has not run the lifespan of the app given "
        "to health.install(): serve that app itself"
    )
    assert wrapped_text.startswith(
        "background refresh is not running: the server has not run the lifespan of the app "
        "health.wrap() returned"
    )


async def test_the_fix_when_run_from_code() -> None:
    report = await background_health().run()

    assert report.checks["cache"].output == (
        "background refresh is not running: enter health.running() first (an app's lifespan does: "
        "health.install(app) for Starlette and FastAPI, health.wrap(app) for Django and other ASGI apps)"
    )
