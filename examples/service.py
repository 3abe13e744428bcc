"""A service shaped for Kubernetes: liveness, readiness and startup probes, and a drain on SIGTERM.

    uvicorn service:app --app-dir examples            # uvicorn: the drain wraps its signals
    python examples/serve_hypercorn.py [--trio]       # hypercorn: through its shutdown trigger

Endpoints: /livez /readyz /startupz /health (and /readyz/<check>, ?verbose, ?exclude=<check>),
GET /slow?seconds=N (a slow request, to watch the drain let it finish), POST /maintenance and
DELETE /maintenance (take the replica out of rotation and back).

Settings from the environment: HEALTHKIT_DRAIN_DELAY (seconds, default 15; empty: no drain),
HEALTHKIT_READY_PERIOD (the readiness probe's periodSeconds, default 5),
HEALTHKIT_SERVICE_DB (an SQLite file), HEALTHKIT_TOKEN (a bearer token, 16 characters or more:
requests that send it see details on /health and /readyz; without it, statuses only),
HEALTHKIT_GRPC_PORT (the same probes over gRPC too, grpc.health.v1 on that port, for Kubernetes
``grpc:`` probes: examples/kubernetes/deployment-grpc.yaml; needs the grpc extra, and asyncio).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

import anyio
import anyio.lowlevel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from healthkit import Check, Health, Probe, Result, Status, bearer_token

DB_PATH = Path(
    os.environ.get("HEALTHKIT_SERVICE_DB") or Path(tempfile.gettempdir()) / "healthkit-service.sqlite3"
)
_drain = os.environ.get("HEALTHKIT_DRAIN_DELAY", "15")
DRAIN_DELAY = float(_drain) if _drain else None
READY_PERIOD = float(os.environ.get("HEALTHKIT_READY_PERIOD", "5"))
TOKEN = os.environ.get("HEALTHKIT_TOKEN")
GRPC_PORT = os.environ.get("HEALTHKIT_GRPC_PORT")


def migrations() -> None:
    """Startup: the schema exists (a plain function: runs in a worker thread)."""
    with closing(sqlite3.connect(DB_PATH, timeout=0.4)) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total INTEGER)")
        connection.commit()


def database() -> Result:
    """Readiness: the database answers a query."""
    started = time.perf_counter()
    with closing(sqlite3.connect(DB_PATH, timeout=0.4)) as connection:
        connection.execute("SELECT count(*) FROM orders").fetchone()
    return Result(
        Status.PASS, observed_value=round((time.perf_counter() - started) * 1000, 3), observed_unit="ms"
    )


async def event_loop() -> Result:
    """Liveness: the event loop is not blocked (a wake-up that should take 0 s comes on time)."""
    asked = anyio.current_time()
    await anyio.lowlevel.checkpoint()
    lag_ms = (anyio.current_time() - asked) * 1000
    status = Status.PASS if lag_ms < 100 else Status.FAIL
    return Result(status, observed_value=round(lag_ms, 3), observed_unit="ms")


health = Health(
    [
        Check("eventLoop:lag", event_loop, component_type="system", tags={"live"}),
        Check("sqlite:responseTime", database, component_type="datastore", external=True, cache_ttl=1),
        Check("migrations", migrations, tags={"startup"}, timeout=0.5),
    ],
    service_id="orders",
    version="1",
    readiness=Probe(period_seconds=READY_PERIOD, details="when_authorized"),
    drain_delay=DRAIN_DELAY,
    authorize=bearer_token(TOKEN) if TOKEN else None,
)


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("orders service\n")


async def slow(request: Request) -> PlainTextResponse:
    seconds = min(float(request.query_params.get("seconds", "1")), 30.0)
    await anyio.sleep(seconds)
    return PlainTextResponse(f"done after {seconds}s\n")


async def maintenance(request: Request) -> JSONResponse:
    entering = request.method == "POST"
    health.set_ready(not entering, "maintenance" if entering else None)
    return JSONResponse({"maintenance": entering})


lifespan = health.lifespan
if GRPC_PORT:
    # The gRPC health service beside the app: "" and "readiness" are /readyz, "liveness" /livez,
    # "startup" /startupz; the lifespan starts and stops it with the Health's.
    from healthkit.grpc import HealthServer

    grpc_health = HealthServer(health, port=int(GRPC_PORT))
    lifespan = grpc_health.lifespan

app = Starlette(
    routes=[
        *health.routes(),
        Route("/", home),
        Route("/slow", slow),
        Route("/maintenance", maintenance, methods=["POST", "DELETE"]),
    ],
    lifespan=lifespan,
)
