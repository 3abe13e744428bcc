"""One benchmark contender as an ASGI app, chosen by environment variables (one per process).

BENCH_CONTENDER: floor | raw | mounted (raw behind a Starlette route) | healthkit | a peer's name
(see bench/peers.py)
BENCH_CHECKS: trivial checks (default 1); BENCH_DELAY: seconds each check waits (default 0)
BENCH_HANG: "1" adds a check that never returns; BENCH_CACHED: "1" serves healthkit from cache
BENCH_DEADLINE: healthkit's deadline (default 0.8); BENCH_DETAILS: its detail level (default always;
never: statuses only, as the probes answer by default); BENCH_ALONE: "1" serves the Health itself
as the ASGI app (no Starlette app or route around it); BENCH_METRICS: "1" adds the Prometheus
observer and its /metrics route
BENCH_CONTENDER=catalog: one ready-made check against a real server, chosen by BENCH_CATALOG
(postgres-asyncpg, postgres-psycopg, postgres-dsn, sqlalchemy, redis-client, redis-url), reaching
it at BENCH_POSTGRES_DSN or BENCH_REDIS_URL; BENCH_CACHED: "1" gives it a cache_ttl of 1 s.

BENCH_CONTENDER=app: an application with a business route, GET /work (a JSON answer built per
request, as a handler would), beside healthkit's probes (/livez, /readyz, /startupz, /health; the
readiness checks wait BENCH_DELAY each, default 1 ms, as a database round trip would; no cache).

BENCH_CONTENDER=counted: one check at /readyz that tells a UDP sink at 127.0.0.1:BENCH_SINK of
each call (counted across worker processes), with BENCH_CACHE_TTL (seconds), or BENCH_REFRESH
(background refresh interval) and BENCH_JITTER (its jitter; default: healthkit's).

Every app also answers GET /calls with how many times its checks ran (for the coalescing row).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CALLS = [0]

BODY = orjson.dumps({"status": "pass"})


def settings() -> dict[str, Any]:
    return {
        "checks": int(os.environ.get("BENCH_CHECKS", "1")),
        "delay": float(os.environ.get("BENCH_DELAY", "0")),
        "hang": os.environ.get("BENCH_HANG") == "1",
        "cached": os.environ.get("BENCH_CACHED") == "1",
        "deadline": float(os.environ.get("BENCH_DEADLINE", "0.8")),
        "details": "never" if os.environ.get("BENCH_DETAILS") == "never" else "always",
        "metrics": os.environ.get("BENCH_METRICS") == "1",
    }


def make_check(delay: float) -> Any:
    async def check() -> None:
        CALLS[0] += 1
        if delay:
            await asyncio.sleep(delay)

    return check


async def hang_forever() -> None:
    await asyncio.Event().wait()


async def calls(request: Request) -> Response:
    return Response(str(CALLS[0]), media_type="text/plain")


def floor() -> Any:
    """A bare Starlette route answering a constant body serialized with orjson."""

    async def health(request: Request) -> Response:
        return Response(orjson.dumps({"status": "pass"}), media_type="application/json")

    return Starlette(routes=[Route("/health", health), Route("/calls", calls)])


def raw() -> Any:
    """A raw ASGI callable answering constant bytes: the server's own limit."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODY})

    return app


def mounted() -> Any:
    """The raw ASGI callable behind a Starlette route: the ceiling for an ASGI app mounted there."""
    app = raw()

    class Raw:  # an object, not a function: Starlette's Route passes it the ASGI call as it is
        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            await app(scope, receive, send)

    return Starlette(routes=[Route("/health", Raw()), Route("/calls", calls)])


def healthkit(
    checks: int,
    delay: float,
    hang: bool,
    cached: bool,
    deadline: float,
    details: Literal["always", "never"],
    metrics: bool,
) -> Any:
    from healthkit import Check, Health, Probe

    registered = [Check(f"check{n}", make_check(delay), timeout=min(deadline, 5.0)) for n in range(checks)]
    if hang:
        registered.append(Check("hung", hang_forever, timeout=deadline))
    health = Health(
        registered, deadline=deadline, cache_ttl=60 if cached else 0, report=Probe(details=details)
    )
    if os.environ.get("BENCH_ALONE") == "1":
        return health  # the Health as the whole ASGI app: no Starlette around it
    routes = [Route("/health", health), Route("/calls", calls)]
    if metrics:
        from prometheus_client import CollectorRegistry

        from healthkit.prometheus import PrometheusMetrics

        routes.append(health.observe(PrometheusMetrics(CollectorRegistry())).route())
    return Starlette(routes=routes, lifespan=health.lifespan)


def app() -> Any:
    """A demo-like application: a business route and the probes, on one event loop."""
    from healthkit import Check, Health

    delay = float(os.environ.get("BENCH_DELAY") or 0.001)
    items = [{"id": n, "name": f"item {n}", "price": n * 1.25, "tags": ["a", "b"]} for n in range(20)]

    async def work(request: Request) -> Response:
        total = sum(item["price"] for item in items)  # type: ignore[misc]
        body = orjson.dumps({"items": items, "total": total, "query": dict(request.query_params)})
        return Response(body, media_type="application/json")

    async def alive() -> None:
        return None

    health = Health(
        [
            Check("event_loop", alive, tags=["live"]),
            Check("database", make_check(delay), external=True),
            Check("cache", make_check(delay), external=True, critical=False),
        ]
    )
    return Starlette(
        routes=[Route("/work", work), Route("/calls", calls), *health.routes()], lifespan=health.lifespan
    )


def counted() -> Any:
    """One check whose every call is a datagram to the bench's sink: counted across processes."""
    import socket

    from healthkit import Check, Health

    sink = ("127.0.0.1", int(os.environ["BENCH_SINK"]))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    ttl = float(os.environ.get("BENCH_CACHE_TTL") or 0)
    refresh = float(os.environ.get("BENCH_REFRESH") or 0) or None
    jitter = os.environ.get("BENCH_JITTER")

    async def dependency() -> None:
        sock.sendto(b"1", sink)

    check = Check(
        "dependency",
        dependency,
        external=True,
        refresh_every=refresh,
        refresh_jitter=None if not jitter else float(jitter),
    )
    health = Health([check], cache_ttl=ttl)
    return Starlette(routes=[Route("/calls", calls), *health.routes()], lifespan=health.lifespan)


def catalog(cached: bool, deadline: float) -> Any:
    """One catalog check, on the application's own client where it has one, counted in CALLS."""
    from contextlib import asynccontextmanager

    from healthkit import Check, Health, Probe
    from healthkit_checks import postgres, sqlalchemy
    from healthkit_checks import redis as redis_check

    which = os.environ["BENCH_CATALOG"]
    dsn, url = os.environ.get("BENCH_POSTGRES_DSN", ""), os.environ.get("BENCH_REDIS_URL", "")
    clients: dict[str, Any] = {}
    if which == "postgres-dsn":
        inner = postgres.query(dsn)
    elif which in ("postgres-asyncpg", "postgres-psycopg"):
        inner = postgres.query(lambda: clients["pool"])
    elif which == "sqlalchemy":
        from sqlalchemy.ext.asyncio import create_async_engine

        clients["engine"] = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"))
        inner = sqlalchemy.connect(clients["engine"])
    elif which == "redis-client":
        import redis.asyncio

        clients["redis"] = redis.asyncio.Redis.from_url(url)
        inner = redis_check.ping(clients["redis"])
    else:
        inner = redis_check.ping(url)

    async def check() -> Any:
        CALLS[0] += 1
        return await inner()

    health = Health(
        [Check(which, check, timeout=deadline)],
        deadline=deadline,
        cache_ttl=1 if cached else 0,
        report=Probe(details="always"),
    )

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        if which == "postgres-asyncpg":
            import asyncpg

            clients["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        elif which == "postgres-psycopg":
            import psycopg_pool

            clients["pool"] = psycopg_pool.AsyncConnectionPool(dsn, min_size=2, max_size=10, open=False)
            await clients["pool"].open(wait=True)
        async with health.lifespan(app):
            yield
        if "pool" in clients:
            await clients["pool"].close()
        if "engine" in clients:
            await clients["engine"].dispose()
        if "redis" in clients:
            await clients["redis"].aclose()

    return Starlette(routes=[Route("/health", health), Route("/calls", calls)], lifespan=lifespan)


def make() -> Any:
    contender = os.environ.get("BENCH_CONTENDER", "healthkit")
    options = settings()
    if contender == "floor":
        return floor()
    if contender == "raw":
        return raw()
    if contender == "mounted":
        return mounted()
    if contender == "healthkit":
        return healthkit(**options)
    if contender == "catalog":
        return catalog(options["cached"], options["deadline"])
    if contender == "app":
        return app()
    if contender == "counted":
        return counted()
    from bench import peers

    options.pop("cached")
    options.pop("deadline")
    options.pop("details")
    options.pop("metrics")
    return peers.make(contender, counter=CALLS, calls_route=calls, **options)
