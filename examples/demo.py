"""healthkit demo: a Starlette app with a /health endpoint.

Run it with ``make demo`` and open http://127.0.0.1:8000/health. Out of the box it answers
``warn`` (200): the database and the process are fine, but the (non-critical) mail relay on
port 2525 is not running. ``curl -X POST 'http://127.0.0.1:8000/jobs?count=500'`` fills the job
queue past its warning level; start something on port 2525 (``python -m http.server 2525``)
and the relay check passes. The Kubernetes probes are there too: /livez, /readyz (try
/readyz?verbose), /startupz; ``curl -X POST http://127.0.0.1:8000/maintenance`` takes the
service out of rotation (readiness fails) and ``curl -X DELETE ...`` puts it back.

Details (outputs, values, versions) are shown only to requests with the demo's bearer token,
as a real service would do on a reachable port; without it every endpoint answers with statuses:

    curl -H 'Authorization: Bearer demo-token-change-me' http://127.0.0.1:8000/health

Settings come from the environment, with defaults that need no setup:
HEALTHKIT_DEMO_DB (an SQLite file), HEALTHKIT_DEMO_MAIL_PORT (2525),
HEALTHKIT_DEMO_TOKEN (the bearer token; at least 16 characters).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from healthkit import Check, Health, Probe, Result, Status, StatusChange, bearer_token

DB_PATH = Path(os.environ.get("HEALTHKIT_DEMO_DB") or Path(tempfile.gettempdir()) / "healthkit-demo.sqlite3")
MAIL_PORT = int(os.environ.get("HEALTHKIT_DEMO_MAIL_PORT", "2525"))
TOKEN = os.environ.get("HEALTHKIT_DEMO_TOKEN", "demo-token-change-me")
QUEUE_WARN_AT = 100
STARTED = time.monotonic()
jobs: list[str] = []


def database() -> Result:
    """A critical dependency: the SQLite file answers a query (a plain function: runs in a thread)."""
    started = time.perf_counter()
    with closing(sqlite3.connect(DB_PATH, timeout=0.4)) as connection:
        connection.execute("SELECT 1").fetchone()
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Result(Status.PASS, observed_value=round(elapsed_ms, 3), observed_unit="ms")


async def mail_relay() -> None:
    """A dependency the service can live without: not critical, so a failure only degrades."""
    stream = await anyio.connect_tcp("127.0.0.1", MAIL_PORT)
    await stream.aclose()


async def queue_depth() -> Result | None:
    depth = len(jobs)
    if depth > QUEUE_WARN_AT:
        return Result(
            Status.WARN,
            output=f"{depth} jobs waiting",
            observed_value=depth,
            observed_unit="jobs",
            affected_endpoints=["/jobs"],
        )
    return Result(Status.PASS, observed_value=depth, observed_unit="jobs")


async def uptime() -> Result:
    return Result(Status.PASS, observed_value=round(time.monotonic() - STARTED, 1), observed_unit="s")


health = Health(
    [
        # Probes within 2 s of each other share one query; for 10 s more the old answer is served
        # at once while one query refreshes it.
        Check(
            "sqlite:responseTime",
            database,
            component_type="datastore",
            timeout=0.5,
            cache_ttl=2,
            stale_while_revalidate=10,
        ),
        Check("mail:connections", mail_relay, component_type="component", timeout=0.3, critical=False),
        Check("jobs:queueDepth", queue_depth, component_type="component"),
        # Checked every 5 s in the background; probes never wait for it.
        Check("uptime", uptime, component_type="system", refresh_every=5),
    ],
    service_id="healthkit-demo",
    version="1",
    release_id="0.1.0",
    description="healthkit demo service",
    # /health shows details to requests with the token; so does /readyz here (probes show
    # statuses only by default).
    authorize=bearer_token(TOKEN),
    readiness=Probe(details="when_authorized"),
)


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        "healthkit demo: GET /health /livez /readyz /startupz, POST /jobs?count=N, POST|DELETE /maintenance\n"
    )


async def add_jobs(request: Request) -> JSONResponse:
    raw = request.query_params.get("count", "1")
    if not raw.isdigit() or not 0 < int(raw) <= 10_000:
        return JSONResponse({"error": "count must be a whole number from 1 to 10000"}, status_code=400)
    jobs.extend("job" for _ in range(int(raw)))
    return JSONResponse({"queued": len(jobs)})


async def clear_jobs(request: Request) -> JSONResponse:
    jobs.clear()
    return JSONResponse({"queued": 0})


async def maintenance(request: Request) -> JSONResponse:
    entering = request.method == "POST"
    health.set_ready(not entering, "maintenance" if entering else None)
    return JSONResponse({"maintenance": entering})


app = Starlette(
    routes=[
        *health.routes(),  # /health, /livez, /readyz, /startupz
        Route("/", home),
        Route("/jobs", add_jobs, methods=["POST"]),
        Route("/jobs", clear_jobs, methods=["DELETE"]),
        Route("/maintenance", maintenance, methods=["POST", "DELETE"]),
    ],
    lifespan=health.lifespan,
)


@health.on_change
def announce(change: StatusChange) -> None:
    """Where a service would page someone; the demo prints the change."""
    subject = change.check or "overall"
    print(f"[demo] {subject}: {change.old} -> {change.new}", flush=True)
