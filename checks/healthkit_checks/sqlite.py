"""SQLite: the embedded default. A database file answers a query (stdlib sqlite3, in a thread).

Check("sqlite:responseTime", sqlite.query("/var/lib/app/app.db"), component_type="datastore")
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from healthkit import Result, Status

from ._levels import judge, require_levels

__all__ = ["query"]


def query(
    path: str | os.PathLike[str],
    sql: str = "SELECT 1",
    *,
    warn_at: float | None = None,
    fail_at: float | None = None,
    busy_timeout: float = 0.4,
) -> Callable[[], Result]:
    """A check that opens the database file at ``path`` (never creating it) and runs ``sql``.

    Reports the round trip (``responseTime`` in ms; ``warn_at``/``fail_at`` in ms). A missing
    file, a locked database past ``busy_timeout`` seconds or a failing query fails, saying which.
    """
    require_levels("sqlite.query", warn_at, fail_at)
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    name = Path(path).name

    def sqlite_query() -> Result:
        started = time.perf_counter()
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=busy_timeout)) as connection:
                connection.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            return Result(Status.FAIL, output=f"{name}: {_summary(exc)}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        return judge(elapsed_ms, "ms", warn_at=warn_at, fail_at=fail_at, what="the query took")

    return sqlite_query


def _summary(exc: sqlite3.OperationalError) -> str:
    text = str(exc)
    if "unable to open" in text:
        return "the database file cannot be opened"
    if "locked" in text:
        return "the database is locked"
    return f"the query failed ({type(exc).__name__})"
