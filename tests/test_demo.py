"""The demo app in examples/: in process, and served by a real uvicorn on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import anyio
import httpx2
import pytest

from tests.checks.support import http_server
from tests.conftest import document, lifespan, request
from tests.databases import PASSWORD, Postgres, Redis
from tests.servers import free_port, load_example, serve_demo


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    return {"HEALTHKIT_DEMO_DB": str(tmp_path / "demo.sqlite3"), "HEALTHKIT_DEMO_MAIL_PORT": str(free_port())}


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """In process there is no server for the demo's own /upstream/health: a stand-in answers pass."""
    async with http_server() as port:
        yield f"http://127.0.0.1:{port}/health-pass"


@pytest.fixture
def demo(demo_env: dict[str, str], upstream: str) -> ModuleType:
    return load_example("demo.py", {**demo_env, "HEALTHKIT_DEMO_UPSTREAM_URL": upstream})


async def test_demo_degrades_to_warn_when_its_optional_mail_relay_is_down(demo: ModuleType) -> None:
    async with lifespan(demo.app):
        response = await request(demo.app)
    body = document(response)

    assert 200 == response.status_code
    assert "warn" == body["status"]
    assert "ms" == body["checks"]["sqlite:responseTime"][0]["observedUnit"]
    assert "percent" == body["checks"]["disk:utilization"][0]["observedUnit"]
    assert {
        "sqlite:responseTime": "pass",
        "upstream:responseTime": "pass",
        "disk:utilization": "pass",
        "eventLoop:lag": "pass",
        "mail:connections": "fail",
        "jobs:queueDepth": "pass",
        "uptime": "pass",
    } == {name: items[0]["status"] for name, items in body["checks"].items()}
    assert (
        f"cannot connect to 127.0.0.1:{demo.MAIL_PORT}: connection refused"
        == (body["checks"]["mail:connections"][0]["output"])
    )


async def test_demo_passes_when_the_mail_relay_listens(demo: ModuleType) -> None:
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=demo.MAIL_PORT),
        lifespan(demo.app),
    ):
        response = await request(demo.app)

    body = document(response)
    assert "pass" == body["checks"]["mail:connections"][0]["status"]
    # Overall pass, but for the event loop's lag, which a loaded machine can push past 50 ms.
    others = {name for name, items in body["checks"].items() if items[0]["status"] != "pass"}
    assert others <= {"eventLoop:lag"}


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


async def test_demo_answers_readiness_at_the_root_for_options_and_its_homepage_for_get(
    demo: ModuleType,
) -> None:
    async with lifespan(demo.app):
        options = await request(demo.app, "OPTIONS", "/")
        page = await request(demo.app, path="/")
        await request(demo.app, "POST", "/maintenance")
        maintenance = await request(demo.app, "OPTIONS", "/")
        await request(demo.app, "DELETE", "/maintenance")
        back = await request(demo.app, "OPTIONS", "/")

    assert (200, "warn") == (options.status_code, document(options)["status"])
    assert page.text.startswith("healthkit demo: GET /health")
    assert (503, "fail") == (maintenance.status_code, document(maintenance)["status"])
    assert 200 == back.status_code


async def test_demo_fails_when_its_database_is_unusable(
    demo_env: dict[str, str], upstream: str, tmp_path: Path
) -> None:
    env = {**demo_env, "HEALTHKIT_DEMO_UPSTREAM_URL": upstream}
    demo = load_example(
        "demo.py", {**env, "HEALTHKIT_DEMO_DB": str(tmp_path / "missing-dir" / "demo.sqlite3")}
    )

    async with lifespan(demo.app):
        response = await request(demo.app)
    body = document(response)

    assert 503 == response.status_code
    assert (
        "demo.sqlite3: the database file cannot be opened"
        == body["checks"]["sqlite:responseTime"][0]["output"]
    )
    assert f"{tmp_path / 'missing-dir'} does not exist" == body["checks"]["disk:utilization"][0]["output"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # asyncpg and redis.asyncio run on asyncio only
async def test_demo_checks_postgres_and_redis_when_given_their_dsns(
    demo_env: dict[str, str], upstream: str, postgres_server: Postgres, redis_server: Redis
) -> None:
    env = {**demo_env, "HEALTHKIT_DEMO_UPSTREAM_URL": upstream}
    env |= {"HEALTHKIT_DEMO_POSTGRES_DSN": postgres_server.dsn, "HEALTHKIT_DEMO_REDIS_URL": redis_server.url}
    demo = load_example("demo.py", env)

    async with lifespan(demo.app):
        body = document(await request(demo.app))

    assert "pass" == body["checks"]["postgres:responseTime"][0]["status"]
    assert "pass" == body["checks"]["redis:responseTime"][0]["status"]
    assert PASSWORD not in str(body)


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


async def test_demo_under_uvicorn_fails_when_its_upstream_answers_500(served_demo: str) -> None:
    async with httpx2.AsyncClient(base_url=served_demo, timeout=5) as client:
        refused = await client.post("/upstream?answer=teapot")
        await client.post("/upstream?answer=500")
        response = await client.get("/health", headers={"authorization": "Bearer demo-token-change-me"})

    upstream = document(response)["checks"]["upstream:responseTime"][0]
    assert 400 == refused.status_code
    assert 503 == response.status_code
    assert ("fail", f"GET {served_demo}/upstream/health returned 500") == (
        upstream["status"],
        upstream["output"],
    )


@pytest.mark.shipping_defaults
async def test_demo_shows_details_only_with_its_token(demo: ModuleType) -> None:
    async with lifespan(demo.app):
        anonymous = document(await request(demo.app))
        authorized = document(
            await request(demo.app, headers={"authorization": "Bearer demo-token-change-me"})
        )

    assert {"status", "checks"} == set(anonymous)
    assert "healthkit-demo" == authorized["serviceId"]


@pytest.mark.shipping_defaults
async def test_demo_signs_a_browser_in_with_a_session_cookie_never_a_url(demo: ModuleType) -> None:
    transport = httpx2.ASGITransport(app=demo.app)
    async with (
        lifespan(demo.app),
        httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        form = await client.get("/login")
        wrong = await client.post("/login", data={"token": "not-the-token"})
        anonymous = document(await client.get("/health"))
        signed_in = await client.post("/login", data={"token": "demo-token-change-me"})
        authorized = document(await client.get("/health"))
        signed_out = await client.post("/logout")
        after = document(await client.get("/health"))

    cookie = signed_in.headers["set-cookie"]
    assert 'form method="post" action="/login"' in form.text
    assert "form-action 'self'" in form.headers["content-security-policy"]
    assert 401 == wrong.status_code
    assert "That is not the token." in wrong.text
    assert (303, "/health") == (signed_in.status_code, signed_in.headers["location"])
    assert cookie.startswith("healthkit_demo_session=")
    assert {"HttpOnly", "Max-Age=28800", "Path=/", "SameSite=strict"} <= set(cookie.split("; "))
    assert "Secure" not in cookie  # served over plain HTTP here; Secure over HTTPS
    assert "demo-token-change-me" not in cookie
    assert {"status", "checks"} == set(anonymous)
    assert "healthkit-demo" == authorized["serviceId"]
    assert 303 == signed_out.status_code
    assert {"status", "checks"} == set(after)


async def test_demo_refuses_a_sign_in_from_another_site(demo: ModuleType) -> None:
    transport = httpx2.ASGITransport(app=demo.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/login", data={"token": "demo-token-change-me"}, headers={"sec-fetch-site": "cross-site"}
        )

    assert 403 == response.status_code
    assert "set-cookie" not in response.headers


async def test_demo_sessions_expire_and_cannot_be_forged(demo: ModuleType) -> None:
    later = int(time.time()) + 60

    assert demo.valid_session(demo.session_value(later))
    assert not demo.valid_session(demo.session_value(int(time.time()) - 1))
    assert not demo.valid_session(f"{later + 3600}.{demo.session_value(later).split('.')[1]}")
    assert not demo.valid_session(f"{later}.{'0' * 64}")
    assert not demo.valid_session("")
    assert not demo.valid_session(None)
    assert not demo.valid_session("demo-token-change-me")
