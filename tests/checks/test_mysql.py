"""The mysql check against a real MariaDB on loopback (tests/checks/daemons.py).

aiomysql runs on asyncio only, so these tests do too, but for the one that shows what happens on trio.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiomysql  # type: ignore[import-untyped]
import anyio
import anyio.to_thread
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from healthkit import Check, Health
from healthkit_checks import mysql, sqlalchemy
from tests.checks.daemons import USER, MariaDB, mariadb_server
from tests.checks.support import outage, outcome
from tests.conftest import probe
from tests.databases import PASSWORD

AnyCheck = Callable[[], Any]


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """One real MariaDB for the session; a test that stops it starts it again."""
    with mariadb_server() as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def connect_args(server: MariaDB, **more: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port, "user": USER, "password": PASSWORD, **more}


@pytest.fixture(params=["pool", "dsn", "socket"])
async def mysql_check(request: pytest.FixtureRequest, mariadb: MariaDB) -> AsyncIterator[AnyCheck]:
    """A check of the live MariaDB through the application's pool, a DSN, or a DSN to its socket."""
    if request.param == "pool":
        pool = await aiomysql.create_pool(minsize=1, maxsize=2, **connect_args(mariadb, db="app"))
        yield mysql.query(pool)
        pool.terminate()
        await pool.wait_closed()
    elif request.param == "dsn":
        yield mysql.query(mariadb.dsn)
    else:
        yield mysql.query(f"mysql://{USER}:{PASSWORD}@localhost/app?unix_socket={mariadb.socket}")


async def test_mysql_passes_against_the_live_server(mysql_check: AnyCheck) -> None:
    item = await outcome(Check("mysql:responseTime", mysql_check, component_type="datastore"))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]
    assert float(item["observedValue"]) >= 0  # type: ignore[arg-type]


async def test_mysql_going_away_fails_readiness_and_coming_back_passes(
    mysql_check: AnyCheck, mariadb: MariaDB
) -> None:
    plain = {
        "connection lost",
        "connection refused",
        "the socket file does not exist",
        "the server is shutting down",
        "timed out after 0.5s",
    }
    await outage(mariadb, [Check("mysql:responseTime", mysql_check, timeout=0.5)], plain)


async def test_mysql_failures_are_named_without_credentials(
    mariadb: MariaDB, caplog: pytest.LogCaptureFixture
) -> None:
    where = f"127.0.0.1:{mariadb.port}"
    missing_socket = f"mysql://{USER}:{PASSWORD}@localhost/app?unix_socket={mariadb.root}/gone.sock"
    checks = [
        Check("password", mysql.query(mariadb.dsn.replace(PASSWORD, "not-the-" + PASSWORD)), timeout=2),
        Check("database", mysql.query(mariadb.dsn.rsplit("/", 1)[0] + "/nope"), timeout=2),
        Check("table", mysql.query(mariadb.dsn, "SELECT * FROM no_such_table"), timeout=2),
        Check("socket", mysql.query(missing_socket), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    assert {
        "password": f"mysql at {where}/app: authentication failed",
        "database": f"mysql at {where}/nope: the database does not exist",
        "table": f"mysql at {where}/app: the query failed (MySQL error 1146)",
        "socket": f"mysql at {mariadb.root}/gone.sock: the socket file does not exist",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert PASSWORD not in str(body) + caplog.text
    assert USER not in str(body) + caplog.text


async def test_mysql_query_borrows_from_the_application_pool(mariadb: MariaDB) -> None:
    """The probe uses the pool's connection and gives it back as it found it: a write probe on a
    pool without autocommit is rolled back, and the pool keeps the connection (aiomysql closes
    one that comes back in a transaction)."""
    pool = await aiomysql.create_pool(minsize=1, maxsize=1, **connect_args(mariadb, db="app"))
    try:
        async with pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute("CREATE TABLE IF NOT EXISTS probes (id INT) ENGINE=InnoDB")
            first = connection
        check = Check("mysql", mysql.query(pool, "INSERT INTO probes VALUES (1)"), timeout=0.3)
        async with pool.acquire():  # the only connection is busy: the check waits for it
            busy = await outcome(check)
        probes = [await outcome(check) for _ in range(3)]
        async with pool.acquire() as connection, connection.cursor() as cursor:
            same = connection is first
            await cursor.execute("SELECT count(*) FROM probes")
            rows = await cursor.fetchone()
        size = pool.size
    finally:
        pool.terminate()
        await pool.wait_closed()

    assert ("fail", "timed out after 0.3s") == (busy["status"], busy["output"])
    assert ["pass"] * 3 == [item["status"] for item in probes]
    assert 1 == size, "no connection of its own"
    assert same, "the same connection, kept by the pool"
    assert (0,) == rows, "the probe's write was rolled back"


async def test_mysql_takes_a_function_for_a_pool_made_in_the_lifespan(mariadb: MariaDB) -> None:
    state: dict[str, Any] = {}
    check = Check("mysql", mysql.query(lambda: state.get("pool")))

    before = await outcome(check)
    pool = await aiomysql.create_pool(minsize=1, maxsize=1, **connect_args(mariadb))
    state["pool"] = pool
    try:
        during = await outcome(check)
    finally:
        pool.terminate()
        await pool.wait_closed()

    assert ("fail", "mysql.query: expected an aiomysql Pool or a mysql:// DSN, got NoneType") == (
        before["status"],
        before["output"],
    )
    assert "pass" == during["status"]


async def test_mysql_stopping_under_a_running_query_fails_it_at_once(mariadb: MariaDB) -> None:
    """The server goes down while the check's query runs: the check fails when the server ends
    the session, well before its timeout."""
    pool = await aiomysql.create_pool(minsize=1, maxsize=1, **connect_args(mariadb))
    health = Health([Check("mysql", mysql.query(pool, "SELECT SLEEP(30)"), timeout=5)], deadline=6)
    app = Starlette(routes=health.routes())
    answers: list[tuple[int, dict[str, Any]]] = []

    async def ready() -> None:
        answers.append(await probe(app, path="/readyz"))

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(ready)
            await running(mariadb, "SLEEP(30)")
            stopped = anyio.current_time()
            await anyio.to_thread.run_sync(mariadb.stop)
        elapsed = anyio.current_time() - stopped
    finally:
        await anyio.to_thread.run_sync(mariadb.start)
        pool.terminate()
        await pool.wait_closed()

    code, body = answers[0]
    assert 503 == code
    assert body["checks"]["mysql"][0]["output"] in {
        "mysql: connection lost",
        "mysql: the server is shutting down",
    }
    assert elapsed < 5, "the server's goodbye ends the check, not its 5 s timeout"


async def running(server: MariaDB, text: str) -> None:
    """Wait until a query holding `text` runs on the server (seen from another session)."""
    connection = await aiomysql.connect(**connect_args(server), autocommit=True)
    try:
        with anyio.fail_after(10):
            while True:
                async with connection.cursor() as cursor:
                    await cursor.execute(
                        "SELECT count(*) FROM information_schema.processlist"
                        " WHERE info LIKE %s AND id <> CONNECTION_ID()",
                        (f"%{text}%",),
                    )
                    (count,) = await cursor.fetchone()
                if count:
                    return
                await anyio.sleep(0.02)
    finally:
        connection.close()


async def test_sqlalchemy_names_mysql_failures_by_their_numbers(mariadb: MariaDB) -> None:
    url = mariadb.dsn.replace("mysql://", "mysql+aiomysql://")
    engines = [
        create_async_engine(url.replace(PASSWORD, "not-the-" + PASSWORD)),
        create_async_engine(url.rsplit("/", 1)[0] + "/nope"),
    ]
    try:
        items = [await outcome(Check("db", sqlalchemy.connect(engine), timeout=2)) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()

    where = f"mysql at 127.0.0.1:{mariadb.port}"
    assert [f"{where}/app: authentication failed", f"{where}/nope: the database does not exist"] == [
        item["output"] for item in items
    ]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_mysql_fails_plainly_on_trio(mariadb: MariaDB) -> None:
    code, body = await probe(Health([Check("mysql", mysql.query(mariadb.dsn))]))

    assert 503 == code
    assert "mysql.query runs on asyncio only, not on this event loop" == body["checks"]["mysql"][0]["output"]


def test_mysql_refuses_what_it_cannot_check() -> None:
    with pytest.raises(TypeError, match=r"got Engine \(for an SQLAlchemy engine, use healthkit_checks.sqla"):
        mysql.query(sa.create_engine("sqlite://"))
    with pytest.raises(ValueError, match="not a mysql:// or mariadb:// DSN") as refused:
        mysql.query(f"postgresql://app:{PASSWORD}@db/app")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ValueError, match=r"option 'password', 'ssl' is not read here; it takes unix_socket"):
        mysql.query(f"mysql://app@db/app?ssl=1&password={PASSWORD}")
    with pytest.raises(ValueError, match="context is for a DSN"):
        mysql.query(lambda: None, context=__import__("ssl").create_default_context())
    with pytest.raises(ValueError, match="sql must be a non-empty string"):
        mysql.query("mysql://db/app", " ")
    with pytest.raises(ValueError, match="warn_at"):
        mysql.query("mysql://db/app", warn_at=100, fail_at=10)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://app:abc/TopSecret9@db:3306/app",  # an unencoded '/' in the password
        "mysql://app:x?TopSecret9@db:3306/app",
        "mariadb://app:TopSecret9@db:99999/app",
        "mysql://app:TopSecret9@db:3306/app?unix_socket=a&unix_socket=TopSecret9",
    ],
)
def test_a_dsn_that_cannot_be_read_for_sure_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ValueError, match=r"mysql\.query") as refused:
        mysql.query(url)

    assert "TopSecret9" not in str(refused.value)


def test_a_missing_driver_names_the_mysql_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiomysql", None)

    with pytest.raises(ImportError, match=r"pip install 'healthkit-asgi\[mysql\]'"):
        mysql.query("mysql://db/app")
