"""healthkit demo: a Starlette app with a /health endpoint.

Run it with ``make demo`` and open http://127.0.0.1:8000/health. Out of the box it answers
``warn`` (200): the database, the disk, the event loop and the upstream service are fine, but
the (non-critical) mail relay on port 2525 is not running. ``curl -X POST
'http://127.0.0.1:8000/jobs?count=500'`` fills the job queue past its warning level; start
something on port 2525 (``python -m http.server 2525``) and the relay check passes.

The upstream service is a stand-in served by the demo itself at /upstream/health, checked over
real HTTP like any dependency: ``curl -X POST 'http://127.0.0.1:8000/upstream?answer=500'``
makes it answer 500 (the check fails with ``GET ... returned 500`` and the demo answers 503: a
dependency's status never becomes the demo's own); ``answer=warn`` or ``answer=fail`` makes it
report that status in its own health+json; ``answer=pass`` puts it back.

Prometheus metrics of the checks and probes are at /metrics (examples/prometheus/ has a scrape
config and alerts). The Kubernetes probes are there too: /livez, /readyz (try /readyz?verbose), /startupz, and
readiness also answers ``OPTIONS /`` (HAProxy's default check; ``GET /`` is the homepage);
``curl -X POST http://127.0.0.1:8000/maintenance`` takes the service out of rotation (readiness
fails) and ``curl -X DELETE ...`` puts it back.

Details (outputs, values, versions) are shown only to requests with the demo's bearer token,
as a real service would do on a reachable port; without it every endpoint answers with statuses:

    curl -H 'Authorization: Bearer demo-token-change-me' http://127.0.0.1:8000/health

Settings come from the environment, with defaults that need no setup:
HEALTHKIT_DEMO_DB (an SQLite file), HEALTHKIT_DEMO_MAIL_PORT (2525), HEALTHKIT_DEMO_PORT (the
port the demo serves on, 8000), HEALTHKIT_DEMO_UPSTREAM_URL (default: the demo's own
/upstream/health), HEALTHKIT_DEMO_TOKEN (the bearer token; at least 16 characters).
HEALTHKIT_DEMO_POSTGRES_DSN (``postgresql://user:password@host:5432/db``) and
HEALTHKIT_DEMO_REDIS_URL (``redis://:password@host:6379/0``) add a PostgreSQL and a Redis check;
their passwords never appear in the answers.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from contextlib import closing, suppress
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from healthkit import Check, Health, Probe, Result, Status, StatusChange, bearer_token
from healthkit.prometheus import PrometheusMetrics
from healthkit_checks import disk, event_loop, http, postgres, redis, sqlite, tcp

DB_PATH = Path(os.environ.get("HEALTHKIT_DEMO_DB") or Path(tempfile.gettempdir()) / "healthkit-demo.sqlite3")
MAIL_PORT = int(os.environ.get("HEALTHKIT_DEMO_MAIL_PORT", "2525"))
PORT = int(os.environ.get("HEALTHKIT_DEMO_PORT", "8000"))
UPSTREAM_URL = os.environ.get("HEALTHKIT_DEMO_UPSTREAM_URL") or f"http://127.0.0.1:{PORT}/upstream/health"
POSTGRES_DSN = os.environ.get("HEALTHKIT_DEMO_POSTGRES_DSN")
REDIS_URL = os.environ.get("HEALTHKIT_DEMO_REDIS_URL")
TOKEN = os.environ.get("HEALTHKIT_DEMO_TOKEN", "demo-token-change-me")
QUEUE_WARN_AT = 100
STARTED = time.monotonic()
jobs: list[str] = []
upstream_answer = "pass"

# The database the demo "uses": created here, so that the check (which never creates a file)
# finds it. If it cannot be created, the sqlite check says so in the answer.
with suppress(sqlite3.Error), closing(sqlite3.connect(DB_PATH)):
    pass


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


checks = [
    # Ready-made checks from healthkit_checks. The database: probes within 2 s of each other share
    # one query; for 10 s more the old answer is served at once while one query refreshes it.
    Check(
        "sqlite:responseTime",
        sqlite.query(DB_PATH),
        component_type="datastore",
        cache_ttl=2,
        stale_while_revalidate=10,
    ),
    # A service the demo depends on, over HTTP; its own health+json status is taken.
    Check(
        "upstream:responseTime",
        http.get(UPSTREAM_URL, health_json=True, warn_at=250),
        component_type="component",
        cache_ttl=1,
    ),
    Check("disk:utilization", disk.usage(DB_PATH.parent), component_type="system", cache_ttl=5),
    # For liveness: a blocked event loop is what a restart cures.
    Check("eventLoop:lag", event_loop.lag(), component_type="system", tags={"live"}),
    # A dependency the service can live without: not critical, so a failure only degrades.
    Check(
        "mail:connections",
        tcp.connect("127.0.0.1", MAIL_PORT),
        component_type="component",
        timeout=0.3,
        critical=False,
    ),
    # Hand-written checks, next to the ready-made ones.
    Check("jobs:queueDepth", queue_depth, component_type="component"),
    # Checked every 5 s in the background; probes never wait for it.
    Check("uptime", uptime, component_type="system", refresh_every=5),
]
if POSTGRES_DSN:  # one connection per call here; a real service passes its asyncpg or psycopg pool
    checks.append(
        Check("postgres:responseTime", postgres.query(POSTGRES_DSN), component_type="datastore", cache_ttl=2)
    )
if REDIS_URL:
    checks.append(Check("redis:responseTime", redis.ping(REDIS_URL), component_type="datastore", cache_ttl=2))

health = Health(
    checks,
    service_id="healthkit-demo",
    version="1",
    release_id="0.1.0",
    description="healthkit demo service",
    # /health shows details to requests with the token; so does /readyz here (probes show
    # statuses only by default).
    authorize=bearer_token(TOKEN),
    readiness=Probe(details="when_authorized"),
)
# Its own registry, so that the demo can be imported more than once (as the tests do); a service
# would leave it out and use prometheus-client's default registry.
metrics = health.observe(PrometheusMetrics(CollectorRegistry()))


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        "healthkit demo: GET /health /livez /readyz /startupz /metrics, OPTIONS / (readiness),"
        " POST /jobs?count=N, POST|DELETE /maintenance, POST /upstream?answer=pass|warn|fail|404|500\n"
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


async def upstream_health(request: Request) -> Response:
    """The stand-in upstream service: its own health+json, or a bare error status."""
    if upstream_answer.isdigit():
        return Response(status_code=int(upstream_answer))
    body = f'{{"status": "{upstream_answer}"}}'
    return Response(body, media_type="application/health+json")


async def set_upstream(request: Request) -> JSONResponse:
    global upstream_answer  # the demo's one switch
    answer = request.query_params.get("answer", "")
    if answer not in ("pass", "warn", "fail", "404", "500"):
        return JSONResponse({"error": "answer must be one of pass, warn, fail, 404, 500"}, status_code=400)
    upstream_answer = answer
    return JSONResponse({"upstream": answer})


async def maintenance(request: Request) -> JSONResponse:
    entering = request.method == "POST"
    health.set_ready(not entering, "maintenance" if entering else None)
    return JSONResponse({"maintenance": entering})


app = Starlette(
    routes=[
        Route("/", home),  # listed before health.routes(root=True): GET and HEAD / stay the homepage
        # /health, /livez, /readyz, /startupz, and readiness at / for OPTIONS: HAProxy's bare
        # `option httpchk` sends OPTIONS /.
        *health.routes(root=True),
        metrics.route(),  # /metrics
        Route("/jobs", add_jobs, methods=["POST"]),
        Route("/jobs", clear_jobs, methods=["DELETE"]),
        Route("/maintenance", maintenance, methods=["POST", "DELETE"]),
        Route("/upstream/health", upstream_health),
        Route("/upstream", set_upstream, methods=["POST"]),
    ],
    lifespan=health.lifespan,
)


@health.on_change
def announce(change: StatusChange) -> None:
    """Where a service would page someone; the demo prints the change."""
    subject = change.check or "overall"
    print(f"[demo] {subject}: {change.old} -> {change.new}", flush=True)
