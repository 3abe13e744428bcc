"""alembic checks against a real PostgreSQL (tests/databases.py) and real Alembic migration scripts
written to a temporary directory, applied with Alembic's own commands.

Each test gets a database of its own. Through a DSN (psycopg, in a worker thread) the check runs on
asyncio and trio; through an AsyncEngine, on asyncio only.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from healthkit import Check, Health
from healthkit_checks import alembic
from tests.checks.support import outage, outcome
from tests.conftest import probe
from tests.databases import PASSWORD, Postgres

#: Three revisions in a line, as `alembic revision` names them.
FIRST, SECOND, HEAD = "ae1027a6acf0", "27c6a30d7c24", "1975ea83b712"

ENV = """
from alembic import context

with context.config.attributes["engine"].begin() as connection:
    context.configure(connection=connection, version_table=context.config.attributes["version_table"])
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = """
from alembic import op

revision = {revision!r}
down_revision = {down!r}


def upgrade():
    op.execute("CREATE TABLE table_{revision} (id integer)")


def downgrade():
    op.execute("DROP TABLE table_{revision}")
"""


def scripts(root: Path, revisions: list[tuple[str, str | tuple[str, ...] | None]]) -> Path:
    """A script directory (env.py, versions/) with these (revision, down_revision) pairs, and an
    alembic.ini beside it; returns the alembic.ini's path."""
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(ENV)
    (root / "migrations" / "script.py.mako").write_text("")
    for revision, down in revisions:
        text = REVISION.format(revision=revision, down=down)
        (root / "migrations" / "versions" / f"{revision}_step.py").write_text(text)
    ini = root / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    return ini


def sync_engine(dsn: str) -> sa.Engine:
    """The application's Engine (psycopg)."""
    return sa.create_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))


def async_engine(dsn: str) -> AsyncEngine:
    """The application's AsyncEngine (asyncpg)."""
    return create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))


@pytest.fixture
def ini(tmp_path: Path) -> Path:
    return scripts(tmp_path, [(FIRST, None), (SECOND, FIRST), (HEAD, SECOND)])


@pytest.fixture(scope="module")
def database(postgres_server: Postgres) -> Iterator[str]:
    """A database for these tests: its postgresql:// DSN (with the password)."""
    name = f"alembic_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def dsn(database: str) -> str:
    """The database, emptied for the test (no version table, no migrated tables)."""
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return database


@pytest.fixture
def migrate(ini: Path, dsn: str) -> Iterator[Callable[[str], Any]]:
    """Run `alembic upgrade <revision>` (or `stamp`, as "stamp:<revision>") on the test's
    database, in a thread, as the application's deployment would."""
    engine = sync_engine(dsn)
    config = Config(str(ini))
    config.attributes.update(engine=engine, version_table="alembic_version")

    async def run(target: str) -> None:
        if target.startswith("stamp:"):
            await anyio.to_thread.run_sync(command.stamp, config, target.removeprefix("stamp:"))
        else:
            await anyio.to_thread.run_sync(command.upgrade, config, target)

    yield run
    engine.dispose()


@pytest.fixture(params=["dsn", "engine", "async engine"])
async def applied(
    request: pytest.FixtureRequest, ini: Path, dsn: str
) -> AsyncIterator[Callable[..., Callable[[], Any]]]:
    """alembic.applied through each kind of target: a DSN, the application's Engine, its
    AsyncEngine."""
    if request.param == "dsn":
        yield lambda **options: alembic.applied(dsn, ini, **options)
    elif request.param == "engine":
        engine = sync_engine(dsn)
        yield lambda **options: alembic.applied(engine, ini, **options)
        engine.dispose()
    else:
        engine_async = async_engine(dsn)
        yield lambda **options: alembic.applied(engine_async, ini, **options)
        await engine_async.dispose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_database_at_the_head_passes(
    applied: Callable[..., Callable[[], Any]], migrate: Callable[[str], Any]
) -> None:
    await migrate("head")

    item = await outcome(Check("migrations", applied(), tags={"startup"}))

    assert ("pass", 0, "migrations") == (item["status"], item["observedValue"], item["observedUnit"])


async def test_pending_migrations_fail_naming_how_many_and_where_the_database_is(
    applied: Callable[..., Callable[[], Any]], migrate: Callable[[str], Any]
) -> None:
    empty = await outcome(Check("migrations", applied()))
    await migrate(FIRST)
    behind = await outcome(Check("migrations", applied()))
    warned = await outcome(Check("migrations", applied(pending="warn")))

    assert ("fail", 3) == (empty["status"], empty["observedValue"])
    assert f"3 migrations pending: none is applied, the head is {HEAD}" == empty["output"]
    assert ("fail", 2, "migrations") == (behind["status"], behind["observedValue"], behind["observedUnit"])
    assert f"2 migrations pending: the database is at {FIRST}, the head is {HEAD}" == behind["output"]
    assert ("warn", behind["output"]) == (warned["status"], warned["output"])


async def test_a_database_at_a_revision_the_migrations_do_not_have_is_named(
    tmp_path: Path, dsn: str, migrate: Callable[[str], Any]
) -> None:
    """A newer release ran its migrations; this one's scripts stop a revision earlier."""
    await migrate("head")
    older = scripts(tmp_path / "older", [(FIRST, None), (SECOND, FIRST)])

    item = await outcome(Check("migrations", alembic.applied(dsn, older)))

    assert "fail" == item["status"]
    assert (
        f"the database is at {HEAD}, which these migrations do not have (the head is {SECOND})"
        == (item["output"])
    )


async def test_every_head_of_branched_migrations_must_be_applied(tmp_path: Path, dsn: str) -> None:
    ini = scripts(tmp_path / "branched", [(FIRST, None), (SECOND, FIRST), (HEAD, FIRST)])
    engine = sync_engine(dsn)
    config = Config(str(ini))
    config.attributes.update(engine=engine, version_table="alembic_version")
    check = Check("migrations", alembic.applied(engine, ini))
    try:
        await anyio.to_thread.run_sync(command.upgrade, config, SECOND)
        one_branch = await outcome(check)
        await anyio.to_thread.run_sync(command.upgrade, config, "heads")
        both = await outcome(check)
    finally:
        engine.dispose()

    assert (
        f"1 migration pending: the database is at {SECOND}, the heads are {HEAD}, {SECOND}"
        == (one_branch["output"])
    )
    assert ("pass", 0) == (both["status"], both["observedValue"])


async def test_a_version_table_of_the_application_own_is_read(ini: Path, dsn: str) -> None:
    engine = sync_engine(dsn)
    config = Config(str(ini))
    config.attributes.update(engine=engine, version_table="schema_versions")
    try:
        await anyio.to_thread.run_sync(command.upgrade, config, "head")
        named = await outcome(Check("m", alembic.applied(engine, ini, version_table="schema_versions")))
        default = await outcome(Check("m", alembic.applied(engine, ini)))
    finally:
        engine.dispose()

    assert "pass" == named["status"]
    assert f"3 migrations pending: none is applied, the head is {HEAD}" == default["output"]


async def test_postgres_going_away_fails_the_check_and_coming_back_passes(
    postgres_server: Postgres, ini: Path, dsn: str, migrate: Callable[[str], Any]
) -> None:
    await migrate("head")
    engine = async_engine(dsn)
    checks = [
        Check("dsn", alembic.applied(dsn, ini), timeout=0.5),
        Check("async engine", alembic.applied(engine, ini), timeout=0.5),
    ]
    plain = {"connection refused", "connection lost", "the server is shutting down"}
    try:
        await outage(postgres_server, checks, plain)
    finally:
        await engine.dispose()


async def test_failures_are_named_without_credentials(postgres_server: Postgres, ini: Path, dsn: str) -> None:
    wrong = dsn.replace(PASSWORD, "not-the-" + PASSWORD)
    where = f"127.0.0.1:{postgres_server.port}/{dsn.rsplit('/', 1)[1]}"
    checks = [
        Check("dsn", alembic.applied(wrong, ini), timeout=2),
        Check("async", alembic.applied(async_engine(wrong), ini), timeout=2),
    ]

    _code, body = await probe(Health(checks, deadline=3))

    assert {
        "dsn": f"postgresql at {where}: authentication failed",
        "async": f"postgresql at {where}: authentication failed",
    } == {name: items[0]["output"] for name, items in body["checks"].items()}
    assert PASSWORD not in str(body)
    assert postgres_server.user not in str(body)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_a_dsn_works_on_trio_and_an_async_engine_fails_plainly(
    ini: Path, dsn: str, migrate: Callable[[str], Any]
) -> None:
    await migrate("head")
    checks = [
        Check("dsn", alembic.applied(dsn, ini)),
        Check("async", alembic.applied(async_engine(dsn), ini)),
    ]

    _code, body = await probe(Health(checks))

    assert {
        "dsn": ("pass", None),
        "async": ("fail", "alembic.applied with an AsyncEngine runs on asyncio only, not on this event loop"),
    } == {name: (items[0]["status"], items[0].get("output")) for name, items in body["checks"].items()}


def test_the_factory_refuses_what_it_cannot_check(tmp_path: Path, ini: Path) -> None:
    dsn = f"postgresql://app:{PASSWORD}@db/app"
    (tmp_path / "empty.ini").write_text("[alembic]\n")
    with pytest.raises(ValueError, match=r"nowhere.ini' does not exist \(expected alembic.ini or a script"):
        alembic.applied(dsn, tmp_path / "nowhere.ini")
    with pytest.raises(ValueError, match="cannot be read: No 'script_location' key found in configuration"):
        alembic.applied(dsn, tmp_path / "empty.ini")
    with pytest.raises(TypeError, match=r"config must be the path of an alembic.ini .* got int"):
        alembic.applied(dsn, 3)
    with pytest.raises(ValueError, match="pending must be 'fail' or 'warn', got 'pass'"):
        alembic.applied(dsn, ini, pending="pass")
    with pytest.raises(ValueError, match="version_table must be a non-empty name"):
        alembic.applied(dsn, ini, version_table="")
    with pytest.raises(TypeError, match=r"expected an SQLAlchemy Engine or AsyncEngine, or a .* got dict"):
        alembic.applied({"url": dsn}, ini)
    with pytest.raises(TypeError, match="sync_engine: pass the AsyncEngine"):
        alembic.applied(create_async_engine("postgresql+asyncpg://app@db/app").sync_engine, ini)
    for url in (f"nosuchdb://app:{PASSWORD}@db/app", f"postgresql://app:abc/{PASSWORD}@db/app", "not a url"):
        with pytest.raises(ValueError, match="URL") as caught:
            alembic.applied(url, ini)
        assert PASSWORD not in str(caught.value)
        assert caught.value.__cause__ is None


def test_a_url_naming_a_driver_not_installed_says_which(ini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)

    with pytest.raises(ImportError, match=r"the URL's driver \(pymysql\) is not installed") as caught:
        alembic.applied(f"mysql+pymysql://app:{PASSWORD}@db/app", ini)

    assert PASSWORD not in str(caught.value)


async def test_a_postgres_url_without_a_driver_takes_asyncpg_when_psycopg_is_missing(
    ini: Path, dsn: str, migrate: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate("head")
    monkeypatch.setitem(sys.modules, "psycopg", None)
    check = alembic.applied(dsn.replace("postgresql://", "postgres://"), ini)

    item = await outcome(Check("migrations", check))

    assert "pass" == item["status"]


def test_a_missing_driver_names_the_extra_to_install(ini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alembic.runtime.migration", None)

    with pytest.raises(ImportError, match=r"pip install 'healthkit-asgi\[alembic\]'"):
        alembic.applied("postgresql://app@db/app", ini)
