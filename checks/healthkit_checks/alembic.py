"""Alembic: the database's schema is at the head of the application's migrations.

    Check("migrations", alembic.applied(engine, "alembic.ini"), tags={"startup"})

The head revision(s) come from the application's own migration scripts (an ``alembic.ini``, the
script directory itself, or an ``alembic.config.Config``), read once when the check is made; the
database's current revision(s) from its ``alembic_version`` table, at each call. Pending
migrations are a fail (or a warn: ``pending="warn"``) that names how many and which revisions.
Meant for the startup probe: an instance that starts before its migrations ran is held back
until they have.

``engine`` is the application's own SQLAlchemy ``AsyncEngine`` (the check is async; asyncio only,
as SQLAlchemy's asyncio extension is) or ``Engine`` (a plain function, run in a worker thread, on
any event loop); or a database URL (one connection per call; a ``postgresql://`` URL without a
driver uses psycopg if it is installed, else asyncpg). The URL's user and password never appear
in outputs. Needs the ``alembic`` extra, and the database's own driver.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from healthkit import Result, Status

from ._drivers import driver, failure, not_on_asyncio, where
from .sqlalchemy import _label

__all__ = ["applied"]

WHAT = "expected an SQLAlchemy Engine or AsyncEngine, or a database URL"


def applied(
    engine: Any,
    config: str | os.PathLike[str] | Any = "alembic.ini",
    *,
    pending: Status | str = Status.FAIL,
    version_table: str = "alembic_version",
    version_table_schema: str | None = None,
) -> Callable[[], Awaitable[Result]] | Callable[[], Result]:
    """A check that the database's current revisions are the migrations' heads.

    ``config`` is the path of an ``alembic.ini`` (its ``script_location`` is read as Alembic
    reads it), the path of the script directory (the folder that holds ``env.py`` and
    ``versions/``), or an ``alembic.config.Config``. ``version_table`` and
    ``version_table_schema`` are those given to ``context.configure`` in ``env.py``, when it
    changes them.

    At the head: pass, ``migrations`` 0. Behind: ``pending`` (``"fail"`` or ``"warn"``), with
    the number of revisions not applied (``migrations``) and an output such as ``2 migrations
    pending: the database is at 1a2b3c4d5e6f, the head is 9f8e7d6c5b4a``. At a revision the
    migrations do not have (a newer release ran its migrations): ``pending`` too, saying so.
    The database unreachable: a fail in plain words, as ``sqlalchemy.connect`` says it.
    """
    if pending not in (Status.FAIL, Status.WARN, "fail", "warn"):
        msg = f"alembic.applied: pending must be 'fail' or 'warn', got {pending!r}"
        raise ValueError(msg)
    behind = Status(pending)
    for name, value in (("version_table", version_table), ("version_table_schema", version_table_schema)):
        if (value is not None or name == "version_table") and (not isinstance(value, str) or not value):
            msg = f"alembic.applied: {name} must be a non-empty name, got {value!r}"
            raise ValueError(msg)
    sa = driver("sqlalchemy", "healthkit_checks.alembic", "alembic")
    migration = driver("alembic.runtime.migration", "healthkit_checks.alembic", "alembic")
    revisions, heads = _revisions(config)
    opts = {"version_table": version_table, "version_table_schema": version_table_schema}
    if isinstance(engine, str):
        engine = _engine_for(engine, sa)
    asyncio_extension = driver("sqlalchemy.ext.asyncio", "healthkit_checks.alembic", "alembic")

    def read(connection: Any) -> tuple[str, ...]:
        context = migration.MigrationContext.configure(connection, opts=opts)
        current: tuple[str, ...] = context.get_current_heads()
        return current

    if isinstance(engine, sa.Engine) and not engine.dialect.is_async:
        label = _label(engine.url)

        def alembic_applied() -> Result:
            try:
                with engine.connect() as connection:
                    current = read(connection)
            except Exception as exc:
                return Result(Status.FAIL, output=f"{label}: {failure(exc)}")
            return _judge(current, heads, revisions, behind)

        return alembic_applied

    if isinstance(engine, sa.Engine):
        msg = "alembic.applied: this Engine is an AsyncEngine's sync_engine: pass the AsyncEngine"
        raise TypeError(msg)
    if not isinstance(engine, asyncio_extension.AsyncEngine):
        msg = f"alembic.applied: {WHAT}, got {type(engine).__name__}"
        raise TypeError(msg)
    label = _label(engine.url)

    async def alembic_applied_async() -> Result:
        refused = not_on_asyncio("alembic.applied with an AsyncEngine")
        if refused is not None:
            return refused
        try:
            async with engine.connect() as connection:
                current = await connection.run_sync(read)
        except Exception as exc:
            return Result(Status.FAIL, output=f"{label}: {failure(exc)}")
        return _judge(current, heads, revisions, behind)

    return alembic_applied_async


def _revisions(config: Any) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """Each revision of the migration scripts with the revisions it follows, and the heads."""
    alembic_config = driver("alembic.config", "healthkit_checks.alembic", "alembic")
    script = driver("alembic.script", "healthkit_checks.alembic", "alembic")
    if isinstance(config, str | os.PathLike):
        path = Path(config)
        if not path.exists():
            shown = str(path)
            msg = f"alembic.applied: {shown!r} does not exist (expected alembic.ini or a script directory)"
            raise ValueError(msg)
    elif not isinstance(config, alembic_config.Config):
        msg = (
            "alembic.applied: config must be the path of an alembic.ini or of a script directory, or an "
            f"alembic.config.Config, got {type(config).__name__}"
        )
        raise TypeError(msg)
    try:
        if isinstance(config, alembic_config.Config):
            directory = script.ScriptDirectory.from_config(config)
        elif path.is_dir():
            directory = script.ScriptDirectory(str(path))
        else:
            directory = script.ScriptDirectory.from_config(alembic_config.Config(str(path)))
        found = {
            revision.revision: _as_tuple(revision.down_revision)
            for revision in directory.walk_revisions(base="base", head="heads")
        }
        heads = frozenset(directory.get_heads())
    except Exception as exc:
        # Alembic's CommandError names paths and revisions; other errors (configparser's, a
        # script's own) may quote values from the file, its URL among them: their kind only.
        said = str(exc) if type(exc).__name__ == "CommandError" else type(exc).__name__
        msg = f"alembic.applied: the migration scripts cannot be read: {said}"
        raise ValueError(msg) from None
    return found, heads


def _as_tuple(down: str | Iterable[str] | None) -> tuple[str, ...]:
    if down is None:
        return ()
    if isinstance(down, str):
        return (down,)
    return tuple(down)


def _engine_for(url: str, sa: Any) -> Any:
    """An engine of the check's own for a database URL (no pool: a connection per call)."""
    where(url, "alembic.applied")
    scheme, _, rest = url.partition("://")
    if not rest or not scheme:
        msg = f"alembic.applied: {WHAT}, got a string that is not a URL"
        raise ValueError(msg)
    if scheme in ("postgres", "postgresql"):
        scheme = _postgres_driver()
    url = f"{scheme}://{rest}"
    pool = driver("sqlalchemy.pool", "healthkit_checks.alembic", "alembic")
    try:
        parsed = sa.engine.make_url(url)
        if parsed.get_dialect().is_async:
            asyncio_extension = driver("sqlalchemy.ext.asyncio", "healthkit_checks.alembic", "alembic")
            return asyncio_extension.create_async_engine(parsed, poolclass=pool.NullPool)
        return sa.create_engine(parsed, poolclass=pool.NullPool)
    except ImportError as exc:
        missing = exc.name or "its driver"
        msg = (
            f"alembic.applied: the URL's driver ({missing}) is not installed; name an installed one in "
            "the URL, as postgresql+psycopg:// or postgresql+asyncpg://"
        )
        raise ImportError(msg) from None
    except Exception as exc:  # SQLAlchemy's messages can quote the URL, password and all
        msg = (
            f"alembic.applied: the URL cannot be used ({type(exc).__name__}); see sqlalchemy.engine.make_url"
        )
        raise ValueError(msg) from None


def _postgres_driver() -> str:
    for module, scheme in (("psycopg", "postgresql+psycopg"), ("asyncpg", "postgresql+asyncpg")):
        try:
            driver(module, "alembic.applied", "alembic")
        except ImportError:
            continue
        return scheme
    return "postgresql"  # SQLAlchemy's default, psycopg2


def _judge(
    current: Collection[str], heads: frozenset[str], revisions: Mapping[str, tuple[str, ...]], behind: Status
) -> Result:
    at = set(current)
    if at == heads:
        return Result(Status.PASS, observed_value=0, observed_unit="migrations")
    head = f"the head is {_listed(heads)}" if len(heads) == 1 else f"the heads are {_listed(heads)}"
    unknown = at - revisions.keys()
    if unknown:
        output = f"the database is at {_listed(unknown)}, which these migrations do not have ({head})"
        return Result(behind, output=output)
    count = len(_ancestry(heads, revisions) - _ancestry(at, revisions))
    now = f"the database is at {_listed(at)}" if at else "none is applied"
    noun = "migration" if count == 1 else "migrations"
    return Result(
        behind,
        output=f"{count} {noun} pending: {now}, {head}",
        observed_value=count,
        observed_unit="migrations",
    )


def _ancestry(revisions: Iterable[str], graph: Mapping[str, tuple[str, ...]]) -> set[str]:
    """The revisions and every revision they follow."""
    seen: set[str] = set()
    stack = list(revisions)
    while stack:
        revision = stack.pop()
        if revision not in seen:
            seen.add(revision)
            stack.extend(graph.get(revision, ()))
    return seen


def _listed(revisions: Iterable[str]) -> str:
    return ", ".join(sorted(revisions)) or "none"
