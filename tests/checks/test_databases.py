"""postgres, redis and sqlalchemy checks against a real PostgreSQL and a real Redis on loopback.

The servers come from tests/databases.py (session fixtures in conftest.py). The drivers run on
asyncio only, so these tests do too, but for the ones that show what happens on trio.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import asyncpg
import psycopg_pool
import pytest
import redis.asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from healthkit import Check, Health
from healthkit_checks import http, postgres, sqlalchemy
from healthkit_checks import redis as redis_check
from tests.checks.support import outage, outcome
from tests.conftest import probe
from tests.databases import PASSWORD, Postgres, Redis
from tests.servers import missing

AnyCheck = Callable[[], Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["asyncpg pool", "psycopg pool", "dsn", "sqlalchemy engine"])
async def postgres_check(
    request: pytest.FixtureRequest, postgres_server: Postgres
) -> AsyncIterator[AnyCheck]:
    """A check of the live PostgreSQL through each kind of client the catalog takes."""
    dsn = postgres_server.dsn
    if request.param == "asyncpg pool":
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        yield postgres.query(pool)
        pool.terminate()
    elif request.param == "psycopg pool":
        async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as ppool:
            await ppool.wait()
            yield postgres.query(ppool)
    elif request.param == "dsn":
        yield postgres.query(dsn)
    else:
        engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
        yield sqlalchemy.connect(engine)
        await engine.dispose()


@pytest.fixture(params=["client", "url"])
async def redis_ping(request: pytest.FixtureRequest, redis_server: Redis) -> AsyncIterator[AnyCheck]:
    """A check of the live Redis through the application's client, or through a URL."""
    if request.param == "url":
        yield redis_check.ping(redis_server.url)
        return
    client = redis.asyncio.Redis.from_url(redis_server.url)
    yield redis_check.ping(client)
    await client.aclose()


async def test_postgres_passes_against_the_live_server(postgres_check: AnyCheck) -> None:
    item = await outcome(Check("postgres:responseTime", postgres_check, component_type="datastore"))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]
    assert float(item["observedValue"]) >= 0  # type: ignore[arg-type]


async def test_redis_passes_against_the_live_server(redis_ping: AnyCheck) -> None:
    item = await outcome(Check("redis:responseTime", redis_ping))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]


async def test_postgres_going_away_fails_readiness_and_coming_back_passes(
    postgres_check: AnyCheck, postgres_server: Postgres
) -> None:
    plain = {"connection lost", "connection refused", "the server is shutting down", "timed out after 0.5s"}
    await outage(postgres_server, [Check("postgres:responseTime", postgres_check, timeout=0.5)], plain)


async def test_redis_going_away_fails_readiness_and_coming_back_passes(
    redis_ping: AnyCheck, redis_server: Redis
) -> None:
    plain = {"connection lost", "connection refused"}
    await outage(redis_server, [Check("redis:responseTime", redis_ping, timeout=0.5)], plain)


async def test_postgres_failures_are_named_without_credentials(postgres_server: Postgres) -> None:
    where = f"127.0.0.1:{postgres_server.port}"
    wrong_password = postgres_server.dsn.replace(PASSWORD, "not-the-" + PASSWORD)
    no_database = postgres_server.dsn.rsplit("/", 1)[0] + "/nope"
    checks = [
        Check("password", postgres.query(wrong_password), timeout=2),
        Check("database", postgres.query(no_database), timeout=2),
        Check("table", postgres.query(postgres_server.dsn, "SELECT * FROM no_such_table"), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    outputs = {name: items[0]["output"] for name, items in body["checks"].items()}
    assert {
        "password": f"postgres at {where}/postgres: authentication failed",
        "database": f"postgres at {where}/nope: the database does not exist",
        "table": f"postgres at {where}/postgres: the query failed (SQLSTATE 42P01)",
    } == outputs
    assert PASSWORD not in str(body)
    assert postgres_server.user not in str(body)


async def test_postgres_query_borrows_from_the_application_pool(postgres_server: Postgres) -> None:
    pool = await asyncpg.create_pool(postgres_server.dsn, min_size=1, max_size=1)
    try:
        check = Check("postgres", postgres.query(pool), timeout=0.3)
        async with pool.acquire():  # the pool's only connection is busy: the check waits for it
            busy = await outcome(check)
        free = await outcome(check)
        assert 1 == pool.get_size(), "no connection of its own"
    finally:
        pool.terminate()

    assert ("fail", "timed out after 0.3s") == (busy["status"], busy["output"])
    assert "pass" == free["status"]


async def test_postgres_takes_a_function_for_a_pool_made_in_the_lifespan(postgres_server: Postgres) -> None:
    state: dict[str, asyncpg.Pool] = {}
    query = Check("postgres", postgres.query(lambda: state.get("pool")))
    usage = Check("postgres:connections", postgres.pool_usage(lambda: state.get("pool")))

    before = await outcome(query)
    async with asyncpg.create_pool(postgres_server.dsn, min_size=1, max_size=2) as pool:
        state["pool"] = pool
        during = [await outcome(query), await outcome(usage)]

    assert "fail" == before["status"]
    assert before["output"] == (
        "postgres.query: expected an asyncpg Pool, a psycopg_pool AsyncConnectionPool or a postgresql:// DSN,"
        " got NoneType"
    )
    assert ["pass", "pass"] == [item["status"] for item in during]


async def test_pool_usage_counts_connections_in_use_against_the_pool_size(postgres_server: Postgres) -> None:
    pool = await asyncpg.create_pool(postgres_server.dsn, min_size=1, max_size=4)
    ppool = psycopg_pool.AsyncConnectionPool(postgres_server.dsn, min_size=1, max_size=4, open=False)
    await ppool.open(wait=True)
    try:
        idle = await outcome(Check("asyncpg:connections", postgres.pool_usage(pool, warn_at=50)))
        async with pool.acquire(), pool.acquire(), pool.acquire():
            asyncpg_busy = await outcome(Check("asyncpg", postgres.pool_usage(pool, warn_at=50, fail_at=99)))
        async with ppool.connection(), ppool.connection(), ppool.connection(), ppool.connection():
            psycopg_full = await outcome(
                Check("psycopg", postgres.pool_usage(ppool, warn_at=50, fail_at=100))
            )
    finally:
        pool.terminate()
        await ppool.close()

    assert ("pass", 0, "connections") == (idle["status"], idle["observedValue"], idle["observedUnit"])
    assert ("warn", 3) == (asyncpg_busy["status"], asyncpg_busy["observedValue"])
    assert "3 of 4 connections in use (75%), at or above 50%" == asyncpg_busy["output"]
    assert ("fail", 4) == (psycopg_full["status"], psycopg_full["observedValue"])
    assert "4 of 4 connections in use (100%), at or above 100%" == psycopg_full["output"]


async def test_redis_failures_are_named_without_the_password(redis_server: Redis) -> None:
    wrong = redis_server.url.replace(PASSWORD, "not-the-" + PASSWORD)
    none = redis_server.url.replace(f":{PASSWORD}@", "")
    socket = f"unix://{redis_server.root}/missing.sock?password={PASSWORD}"
    checks = [
        Check("wrong", redis_check.ping(wrong), timeout=2),
        Check("none", redis_check.ping(none), timeout=2),
        Check("socket", redis_check.ping(socket), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    where = f"redis at 127.0.0.1:{redis_server.port}/0"
    assert {
        "wrong": f"{where}: authentication failed",
        "none": f"{where}: authentication failed",
        "socket": f"redis at {redis_server.root}/missing.sock: the socket file does not exist",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert PASSWORD not in str(body)


async def test_sqlalchemy_names_the_engine_without_its_password(postgres_server: Postgres) -> None:
    url = postgres_server.dsn.replace("postgresql://", "postgresql+asyncpg://")
    engine = create_async_engine(url.replace(PASSWORD, "not-the-" + PASSWORD))
    try:
        item = await outcome(Check("db", sqlalchemy.connect(engine), timeout=2))
    finally:
        await engine.dispose()

    assert f"postgresql at 127.0.0.1:{postgres_server.port}/postgres: authentication failed" == item["output"]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_sqlalchemy_sync_engine_runs_in_a_thread_on_any_loop(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        good = await outcome(Check("db", sqlalchemy.connect(engine, "SELECT count(*) FROM orders")))
        bad = await outcome(Check("db", sqlalchemy.connect(engine, "SELECT * FROM refunds")))
    finally:
        engine.dispose()

    assert ("pass", "ms") == (good["status"], good["observedUnit"])
    assert ("fail", "sqlite app.db: failed (OperationalError)") == (bad["status"], bad["output"])


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_asyncio_only_drivers_fail_plainly_on_trio(
    postgres_server: Postgres, redis_server: Redis
) -> None:
    checks = [
        Check("postgres", postgres.query(postgres_server.dsn)),
        Check("redis", redis_check.ping(redis_server.url)),
    ]

    code, body = await probe(Health(checks))

    assert 503 == code
    assert {
        "postgres": "postgres.query runs on asyncio only, not on this event loop",
        "redis": "redis.ping runs on asyncio only, not on this event loop",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}


def test_factories_refuse_what_they_cannot_check() -> None:
    with pytest.raises(
        TypeError, match=r"postgres.query: expected an asyncpg Pool, .* got Engine \(for an SQLAl"
    ):
        postgres.query(sa.create_engine("sqlite://"))
    with pytest.raises(ValueError, match="not a postgresql:// DSN") as caught:
        postgres.query(f"mysql://app:{PASSWORD}@db/app")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(TypeError, match="got a DSN"):
        postgres.pool_usage(f"postgresql://app:{PASSWORD}@db/app")
    with pytest.raises(TypeError, match=r"got Redis \(a synchronous client: use redis.asyncio.Redis\)"):
        redis_check.ping(__import__("redis").Redis())
    with pytest.raises(ValueError, match="redis:// URL") as caught:
        redis_check.ping(f"http://:{PASSWORD}@cache")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(TypeError, match="expected an sqlalchemy Engine or AsyncEngine, got str"):
        sqlalchemy.connect("sqlite://")
    with pytest.raises(ValueError, match="warn_at"):
        redis_check.ping("redis://cache", warn_at=100, fail_at=10)


@pytest.mark.parametrize(
    ("blocked", "make", "extra"),
    [
        (["asyncpg", "psycopg"], lambda: postgres.query("postgresql://db/app"), "postgres"),
        (["redis.asyncio"], lambda: redis_check.ping("redis://cache"), "redis"),
        (["sqlalchemy"], lambda: sqlalchemy.connect(object()), "sqlalchemy"),
    ],
)
def test_a_missing_driver_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, blocked: list[str], make: Callable[[], object], extra: str
) -> None:
    for module in blocked:
        monkeypatch.setitem(sys.modules, module, None)

    with pytest.raises(ImportError, match=rf"pip install 'healthkit-asgi\[{extra}\]'"):
        make()


def test_a_missing_server_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="redis-server is not installed"):
        missing("redis-server")

    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        missing("redis-server")


@pytest.mark.parametrize(
    "make",
    [
        lambda url: postgres.query(url.replace("scheme", "postgresql")),
        lambda url: redis_check.ping(url.replace("scheme", "redis")),
        lambda url: http.get(url.replace("scheme", "https")),
    ],
    ids=["postgres", "redis", "http"],
)
@pytest.mark.parametrize(
    "url",
    [
        "scheme://app:abc/TopSecret9@db:5432/app",  # an unencoded '/' in the password
        "scheme://app:x?TopSecret9@db:5432/app",
        "scheme://app:x[TopSecret9]y@db:5432/app",
        "scheme://app:TopSecret9@db:99999/app",
        "scheme://app:TopSecret9@db:port/app",
    ],
)
def test_a_url_that_cannot_be_read_for_sure_is_refused_without_repeating_it(
    make: Callable[[str], object], url: str
) -> None:
    with pytest.raises(ValueError, match="URL") as caught:
        make(url)

    assert "TopSecret9" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_redis_url_with_options_it_cannot_read_is_refused() -> None:
    with pytest.raises(ValueError, match="the URL's options cannot be read"):
        redis_check.ping("redis://cache:6379/0?socket_timeout=soon")


async def test_postgres_names_refused_roles_through_either_driver(postgres_server: Postgres) -> None:
    admin = await asyncpg.connect(postgres_server.dsn)
    try:
        await admin.execute("DROP ROLE IF EXISTS limited; DROP ROLE IF EXISTS barred")
        await admin.execute("CREATE ROLE limited LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 0")
        await admin.execute("CREATE ROLE barred NOLOGIN PASSWORD 'barred-pw'")
    finally:
        await admin.close()
    base = f"127.0.0.1:{postgres_server.port}/postgres"
    engines = {
        role: create_async_engine(f"postgresql+psycopg://{role}:{role}-pw@{base}")
        for role in ("limited", "barred")
    }
    checks = [
        Check("asyncpg limited", postgres.query(f"postgresql://limited:limited-pw@{base}"), timeout=2),
        Check("asyncpg barred", postgres.query(f"postgresql://barred:barred-pw@{base}"), timeout=2),
        Check("psycopg limited", sqlalchemy.connect(engines["limited"]), timeout=2),
        Check("psycopg barred", sqlalchemy.connect(engines["barred"]), timeout=2),
    ]
    try:
        _code, body = await probe(Health(checks, deadline=3))
    finally:
        for engine in engines.values():
            await engine.dispose()

    assert {
        "asyncpg limited": f"postgres at {base}: too many connections",
        "asyncpg barred": f"postgres at {base}: authentication failed",
        "psycopg limited": f"postgresql at {base}: too many connections",
        "psycopg barred": f"postgresql at {base}: authentication failed",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}


async def test_pool_checks_take_subclassed_pools_and_fail_plainly_on_closed_ones(
    postgres_server: Postgres,
) -> None:
    class AppPool(psycopg_pool.AsyncConnectionPool):
        pass

    async with AppPool(postgres_server.dsn, min_size=1, max_size=2, open=False) as pool:
        await pool.wait()
        open_pool = [
            await outcome(Check("q", postgres.query(pool))),
            await outcome(Check("u", postgres.pool_usage(pool))),
        ]
    closed = await outcome(Check("u", postgres.pool_usage(pool)))

    assert ["pass", "pass"] == [item["status"] for item in open_pool]
    assert ("fail", "the pool is closed") == (closed["status"], closed["output"])


async def test_a_pool_function_that_raises_is_a_plain_fail() -> None:
    class State:
        pass

    state = State()

    item = await outcome(Check("postgres", postgres.query(lambda: state.pool)))  # type: ignore[attr-defined]

    assert (
        "postgres.query: the pool is not available (AttributeError from the function given)" == item["output"]
    )


def test_sqlalchemy_refuses_the_sync_face_of_an_async_engine() -> None:
    engine = create_async_engine("postgresql+asyncpg://app@db/app")

    with pytest.raises(TypeError, match="sync_engine: pass the AsyncEngine"):
        sqlalchemy.connect(engine.sync_engine)


@pytest.mark.parametrize("client", ["asyncpg pool", "psycopg pool"])
async def test_postgres_stopping_under_a_running_query_fails_it_at_once(
    postgres_server: Postgres, client: str
) -> None:
    """The server goes down while the check's query runs: the check fails when the server ends
    the session, well before its timeout, and readiness names it."""
    if client == "asyncpg pool":
        pool: Any = await asyncpg.create_pool(postgres_server.dsn, min_size=1, max_size=1)
    else:
        pool = psycopg_pool.AsyncConnectionPool(postgres_server.dsn, min_size=1, max_size=1, open=False)
        await pool.open(wait=True)
    health = Health([Check("postgres", postgres.query(pool, "SELECT pg_sleep(30)"), timeout=5)], deadline=6)
    app = Starlette(routes=health.routes())
    answers: list[tuple[int, dict[str, Any]]] = []

    async def ready() -> None:
        answers.append(await probe(app, path="/readyz"))

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(ready)
            await running(postgres_server, "pg_sleep")
            stopped = anyio.current_time()
            await anyio.to_thread.run_sync(postgres_server.stop)
        elapsed = anyio.current_time() - stopped
    finally:
        await anyio.to_thread.run_sync(postgres_server.start)
        await pool.close()

    code, body = answers[0]
    assert 503 == code
    assert "fail" == body["checks"]["postgres"][0]["status"]
    assert body["checks"]["postgres"][0]["output"] in {
        "postgres: the server is shutting down",
        "postgres: connection lost",
    }
    assert elapsed < 5, "the server's goodbye ends the check, not its 5 s timeout"


async def running(server: Postgres, text: str) -> None:
    """Wait until a query holding `text` runs on the server (seen from another session)."""
    admin = await asyncpg.connect(server.dsn)
    try:
        with anyio.fail_after(10):
            while not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
                f"%{text}%",
            ):
                await anyio.sleep(0.02)
    finally:
        await admin.close()
