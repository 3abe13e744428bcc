from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping, MutableMapping
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources
from typing import Any

import anyio
import httpx2
import jsonschema
import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from healthkit import Health, _probe
from tests import databases


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def app_for(health: Health, path: str = "/health") -> Starlette:
    return Starlette(routes=[Route(path, health)])


async def request(
    app: Any, method: str = "GET", path: str = "/health", headers: Mapping[str, str] | None = None
) -> httpx2.Response:
    """One request to an ASGI app (a Health is mounted at /health first)."""
    if isinstance(app, Health):
        app = app_for(app)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, path, headers=headers)


def document(response: httpx2.Response) -> dict[str, Any]:
    """The response's health+json body, after checking that it has the draft's shape."""
    assert response.headers["content-type"] == "application/health+json"
    body: dict[str, Any] = orjson.loads(response.content)
    assert_valid_document(body)
    return body


SCHEMA = json.loads((resources.files("healthkit") / "health.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def assert_valid_document(body: dict[str, Any]) -> None:
    """The body against the JSON Schema healthkit ships, and the rule JSON cannot state."""
    VALIDATOR.validate(body)
    assert next(iter(body)) == "status", "status comes first"
    for items in body.get("checks", {}).values():
        if "time" in items[0]:
            datetime.fromisoformat(items[0]["time"])


async def probe(app: Any, method: str = "GET", path: str = "/health") -> tuple[int, dict[str, Any]]:
    """One request straight into an ASGI app, without an HTTP client: (status code, document)."""
    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body: dict[str, Any] = orjson.loads(sent[1]["body"]) if sent[1]["body"] else {}
    if body:
        assert_valid_document(body)
    return sent[0]["status"], body


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan (startup before the block, shutdown after), as a server would."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    app_outbox, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](4)

    async def send(message: MutableMapping[str, Any]) -> None:
        await app_outbox.send(message)

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(app, {"type": "lifespan", "asgi": {"version": "3.0"}}, app_inbox.receive, send)
        await to_app.send({"type": "lifespan.startup"})
        assert "lifespan.startup.complete" == (await from_app.receive())["type"]
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            assert "lifespan.shutdown.complete" == (await from_app.receive())["type"]


ERROR_ID = re.compile(r" \(error id ([0-9a-f]{6})\)")


def no_id(text: str | None) -> str | None:
    """An output with its error id taken out (tests/test_safety.py tests the ids themselves)."""
    return None if text is None else ERROR_ID.sub("", text)


@pytest.fixture(autouse=True)
def details_shown(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests are about what checks report, so they see details on every endpoint, as with
    details="always". Tests marked `shipping_defaults` get the defaults healthkit ships (statuses
    only on the probes; details on /health for authorized requests): tests/test_details.py."""
    if request.node.get_closest_marker("shipping_defaults") is None:
        for endpoint in _probe.DEFAULT_DETAILS:
            monkeypatch.setitem(_probe.DEFAULT_DETAILS, endpoint, "always")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[databases.Postgres]:
    """One real PostgreSQL for the session; a test that stops it starts it again."""
    with databases.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[databases.Redis]:
    """One real Redis for the session; a test that stops it starts it again."""
    with databases.redis_server() as server:
        yield server
