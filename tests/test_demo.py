"""The demo app in examples/: in process, and served by a real uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import anyio
import httpx2
import pytest

from tests.conftest import document, lifespan, no_id, request
from tests.servers import free_port, load_example, serve_demo


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    return {"HEALTHKIT_DEMO_DB": str(tmp_path / "demo.sqlite3"), "HEALTHKIT_DEMO_MAIL_PORT": str(free_port())}


@pytest.fixture
def demo(demo_env: dict[str, str]) -> ModuleType:
    return load_example("demo.py", demo_env)


async def test_demo_degrades_to_warn_when_its_optional_mail_relay_is_down(demo: ModuleType) -> None:
    async with lifespan(demo.app):
        response = await request(demo.app)
    body = document(response)

    assert 200 == response.status_code
    assert "warn" == body["status"]
    assert "pass" == body["checks"]["sqlite:responseTime"][0]["status"]
    assert "ms" == body["checks"]["sqlite:responseTime"][0]["observedUnit"]
    assert "fail" == body["checks"]["mail:connections"][0]["status"]
    assert "OSError" == no_id(body["checks"]["mail:connections"][0]["output"])
    assert "pass" == body["checks"]["uptime"][0]["status"]


async def test_demo_passes_when_the_mail_relay_listens(demo: ModuleType) -> None:
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=demo.MAIL_PORT),
        lifespan(demo.app),
    ):
        response = await request(demo.app)

    assert "pass" == document(response)["status"]


async def test_demo_queue_warns_past_its_level(demo: ModuleType) -> None:
    async with lifespan(demo.app):
        queued = await request(demo.app, "POST", "/jobs?count=500")
        refused = await request(demo.app, "POST", "/jobs?count=lots")
        body = document(await request(demo.app))

    assert 200 == queued.status_code
    assert 400 == refused.status_code
    assert "count must be a whole number" in refused.text
    assert "warn" == body["checks"]["jobs:queueDepth"][0]["status"]
    assert "500 jobs waiting" == body["checks"]["jobs:queueDepth"][0]["output"]


async def test_demo_fails_when_its_database_is_unusable(
    demo: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "DB_PATH", tmp_path / "missing-dir" / "demo.sqlite3")

    async with lifespan(demo.app):
        response = await request(demo.app)
    body = document(response)

    assert 503 == response.status_code
    assert "OperationalError" == no_id(body["checks"]["sqlite:responseTime"][0]["output"])
    assert "missing-dir" not in response.text


async def test_demo_serves_its_database_check_from_cache(demo: ModuleType) -> None:
    async with lifespan(demo.app):
        first = document(await request(demo.app))
        second = document(await request(demo.app))

    assert "ageMs" not in first["checks"]["sqlite:responseTime"][0]
    assert "ageMs" in second["checks"]["sqlite:responseTime"][0]
    assert (
        first["checks"]["sqlite:responseTime"][0]["time"]
        == second["checks"]["sqlite:responseTime"][0]["time"]
    )


@pytest.fixture
def served_demo(demo_env: dict[str, str]) -> Iterator[str]:
    server = serve_demo(demo_env)
    try:
        yield server.url
    finally:
        server.stop()


async def test_demo_under_uvicorn_answers_get_head_options_and_refuses_post(served_demo: str) -> None:
    async with httpx2.AsyncClient(base_url=served_demo, timeout=5) as client:
        get = await client.get("/health", headers={"accept": "*/*", "user-agent": "kube-probe/1.31"})
        head = await client.head("/health")
        options = await client.options("/health")
        post = await client.post("/health")

    assert 200 == get.status_code
    assert "warn" == document(get)["status"]
    assert 200 == head.status_code
    assert b"" == head.content
    assert "application/health+json" == head.headers["content-type"]
    assert 200 == options.status_code
    assert "GET, HEAD, OPTIONS" == options.headers["allow"]
    assert 405 == post.status_code


@pytest.mark.shipping_defaults
async def test_demo_shows_details_only_with_its_token(demo: ModuleType) -> None:
    async with lifespan(demo.app):
        anonymous = document(await request(demo.app))
        authorized = document(
            await request(demo.app, headers={"authorization": "Bearer demo-token-change-me"})
        )

    assert {"status", "checks"} == set(anonymous)
    assert "healthkit-demo" == authorized["serviceId"]
