"""What the database checks share: importing a driver, asyncio-only drivers, a timed round trip,
plain failure reasons."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from types import ModuleType
from urllib.parse import unquote, urlsplit

import anyio

from healthkit import Result, Status

from ._levels import judge
from .tcp import exception_chain, reason


def driver(module: str, check: str, extra: str) -> ModuleType:
    """Import a driver, or raise an ImportError that names the extra which installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = f"{check} needs {module.split('.')[0]}: pip install 'healthkit-asgi[{extra}]'"
        raise ImportError(msg) from exc


async def round_trip(
    run: Callable[[], Awaitable[object]],
    label: str,
    *,
    warn_at: float | None,
    fail_at: float | None,
    what: str,
    why: Callable[[Exception], str],
) -> Result:
    """Time ``run()`` (``responseTime`` in ms, judged against the thresholds); a failure is
    ``label: why(exc)``."""
    started = anyio.current_time()
    try:
        await run()
    except Exception as exc:
        return Result(Status.FAIL, output=f"{label}: {why(exc)}")
    elapsed_ms = (anyio.current_time() - started) * 1000
    return judge(elapsed_ms, "ms", warn_at=warn_at, fail_at=fail_at, what=what)


def not_on_asyncio(name: str) -> Result | None:
    """A fail when the running event loop is not asyncio's (say, trio): ``name`` needs asyncio."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return Result(Status.FAIL, output=f"{name} runs on asyncio only, not on this event loop")
    return None


class Refused(Exception):
    """The server answered, but not as the check asked; ``meaning`` says how, in plain words (a
    check's output, never the server's own text)."""

    def __init__(self, meaning: str) -> None:
        super().__init__(meaning)
        self.meaning = meaning


def where(url: str, check: str) -> str:
    """``host:port/database`` of a DSN or URL (for a unix:// URL, the socket's path): no scheme,
    user, password or query. Raises a ValueError, which repeats nothing of ``url``, when the URL
    cannot be read for sure, as when a password holds an unencoded ``/``, ``?``, ``#`` or ``@``."""
    encode = "percent-encode any '/', '?', '#', '@', '[' or ']' in the user or password"
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        msg = f"{check}: the URL cannot be read (a bad port or host?); {encode}"
        raise ValueError(msg) from None
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        msg = f"{check}: the URL has an '@' after its host; {encode}"
        raise ValueError(msg)
    if parts.scheme == "unix":
        return unquote(parts.path)
    if port == 0:
        msg = f"{check}: the URL's port must be from 1 to 65535"
        raise ValueError(msg)
    host = host or "localhost"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{host}:{port}" if port else host
    database = unquote(parts.path.lstrip("/"))
    return f"{shown}/{database}" if database else shown


#: SQLSTATE codes and classes that have a plain name (PostgreSQL's, shared by most SQL servers).
SQLSTATES = {
    "28": "authentication failed",
    "08": "connection lost",
    "3D000": "the database does not exist",
    "53300": "too many connections",
    "57P01": "the server is shutting down",
    "57P02": "the server is shutting down",
    "57P03": "the server is not accepting connections yet",
    "25006": "the database is read-only",
    "57014": "the query was cancelled",
    "53": "the server is out of resources",
}

#: Words in driver messages (never shown) that tell what happened when no SQLSTATE does, most
#: specific first: each entry's words must all appear.
PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("connection refused",), "connection refused"),
    (("role", "does not exist"), "authentication failed"),
    (("not permitted to log in",), "authentication failed"),
    (("password authentication failed",), "authentication failed"),
    (("authentication failed",), "authentication failed"),
    (("database", "does not exist"), "the database does not exist"),
    (("too many clients",), "too many connections"),
    (("too many connections",), "too many connections"),
    (("remaining connection slots",), "too many connections"),
    (("is shutting down",), "the server is shutting down"),
    (("is starting up",), "the server is not accepting connections yet"),
    (("connection is closed",), "connection lost"),
    (("connection was closed",), "connection lost"),
    (("closed by server",), "connection lost"),
    (("server closed the connection",), "connection lost"),
)


#: MySQL and MariaDB error numbers that have a plain name (from 2000 on, the client library's own).
MYSQL_ERRORS = {
    1040: "too many connections",
    1044: "access to the database denied",
    1045: "authentication failed",
    1049: "the database does not exist",
    1053: "the server is shutting down",
    1129: "this host is blocked after too many connection errors",
    1130: "this host may not connect",
    1203: "too many connections",
    1205: "timed out waiting for a lock",
    1226: "the user's resource limit is reached",
    1836: "the server is read-only",
    1927: "connection lost",
    1969: "the query timed out",
    2002: "cannot connect",
    2003: "cannot connect",
    2006: "connection lost",
    2013: "connection lost",
    3024: "the query timed out",
    4031: "connection lost",
}

#: Where MySQL errors come from: their first argument is the server's (or client's) error number.
MYSQL_DRIVERS = frozenset({"pymysql", "aiomysql", "asyncmy", "MySQLdb"})


def mysql_error_number(exc: BaseException) -> int | None:
    """The error number of a MySQL driver's error, else None."""
    if type(exc).__module__.split(".")[0] not in MYSQL_DRIVERS or not exc.args:
        return None
    number = exc.args[0]
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def failure(exc: BaseException) -> str:
    """A short, secret-free account of a database failure. Never the driver's own text, which
    can hold host names, user names and query data."""
    network = reason(exc)
    if network != type(exc).__name__:
        return network
    chain = exception_chain(exc)
    if any(isinstance(seen, FileNotFoundError) for seen in chain):
        return "the socket file does not exist"
    for seen in chain:  # before SQLSTATEs: MySQL's numbers say more (1049 and a bad query share 42000)
        number = mysql_error_number(seen)
        if number is not None:
            named = MYSQL_ERRORS.get(number)
            return named or f"the query failed (MySQL error {number})"
    for seen in chain:
        code = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(code, str) and code:
            named = SQLSTATES.get(code) or SQLSTATES.get(code[:2])
            return named or f"the query failed (SQLSTATE {code})"
    texts = [_text(seen) for seen in chain]
    for words, meaning in PHRASES:
        if any(all(word in text for word in words) for text in texts):
            return meaning
    if any(isinstance(seen, TimeoutError) for seen in chain):
        return "timed out"
    return f"failed ({type(exc).__name__})"


def _text(exc: BaseException) -> str:
    try:
        return str(exc).lower()
    except Exception:  # an exception whose text cannot be read names nothing
        return ""
