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

A browser opening /health gets the status page (statuses only); to see details there, sign in at
http://127.0.0.1:8000/login with the same token. The form POSTs it once (never in a URL, so no
access log, history, bookmark or Referer holds it) and gets back a session cookie: HttpOnly (no
script reads it), SameSite=Strict (no other site's page or link sends it), Secure when the demo
is served over HTTPS, for 8 hours. The cookie holds an expiry and its HMAC under a key derived
from the token, so it works with several workers, dies with a new token, and is not the token
itself. ``POST /logout`` drops it.

Settings come from the environment, with defaults that need no setup:
HEALTHKIT_DEMO_DB (an SQLite file), HEALTHKIT_DEMO_MAIL_PORT (2525), HEALTHKIT_DEMO_PORT (the
port the demo serves on, 8000), HEALTHKIT_DEMO_UPSTREAM_URL (default: the demo's own
/upstream/health), HEALTHKIT_DEMO_TOKEN (the bearer token; at least 16 characters).
HEALTHKIT_DEMO_POSTGRES_DSN (``postgresql://user:password@host:5432/db``) and
HEALTHKIT_DEMO_REDIS_URL (``redis://:password@host:6379/0``) add a PostgreSQL and a Redis check;
their passwords never appear in the answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
import tempfile
import time
from contextlib import closing, suppress
from pathlib import Path
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
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

# --- who may see details: the bearer token, or a browser's session from /login ---

SESSION_COOKIE = "healthkit_demo_session"
SESSION_SECONDS = 8 * 3600
_SESSION_KEY = hmac.new(TOKEN.encode(), b"healthkit demo session", hashlib.sha256).digest()
_bearer = bearer_token(TOKEN)


def session_value(expires: int) -> str:
    """The cookie's value: when it expires, and an HMAC of that under a key made from the token."""
    mac = hmac.new(_SESSION_KEY, str(expires).encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


def valid_session(value: str | None) -> bool:
    expires, dot, _ = (value or "").partition(".")
    if not dot or not expires.isdigit() or int(expires) < time.time():
        return False
    return hmac.compare_digest(session_value(int(expires)).encode(), (value or "").encode())


def authorize(request: Request) -> bool:
    """``Authorization: Bearer <token>`` (curl, monitoring) or the session cookie (a browser)."""
    return _bearer(request) is True or valid_session(request.cookies.get(SESSION_COOKIE))


health = Health(
    checks,
    service_id="healthkit-demo",
    version="1",
    release_id="0.1.0",
    description="healthkit demo service",
    # /health shows details to requests with the token; so does /readyz here (probes show
    # statuses only by default).
    authorize=authorize,
    readiness=Probe(details="when_authorized"),
)
# Its own registry, so that the demo can be imported more than once (as the tests do); a service
# would leave it out and use prometheus-client's default registry.
metrics = health.observe(PrometheusMetrics(CollectorRegistry()))


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        "healthkit demo: GET /health /livez /readyz /startupz /metrics, OPTIONS / (readiness),"
        " POST /jobs?count=N, POST|DELETE /maintenance, POST /upstream?answer=pass|warn|fail|404|500;"
        " in a browser: /health (the status page), /login (details on it)\n"
    )


_LOGIN_CSS = (
    "body{margin:3rem auto;max-width:24rem;padding:0 1rem;font:16px/1.5 system-ui,sans-serif;"
    "color-scheme:light dark}input,button{font:inherit;padding:.4rem .6rem}"
    "input{display:block;width:100%;margin:.25rem 0 .75rem}.alert{color:#cf222e}"
)
_LOGIN_HEADERS = {
    # The form posts to this origin only; nothing else loads, nothing may frame it.
    "content-security-policy": (
        "default-src 'none'; style-src 'sha256-"
        + base64.b64encode(hashlib.sha256(_LOGIN_CSS.encode()).digest()).decode()
        + "'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def login_form(alert: str = "", status_code: int = 200) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>healthkit demo: sign in</title><style>{_LOGIN_CSS}</style></head><body>"
        "<h1>healthkit demo</h1><p>The token shows the details on the status page at "
        '<a href="/health">/health</a>: outputs, values and history.</p>'
        f"{alert}"
        '<form method="post" action="/login"><label for="token">Token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
        '<form method="post" action="/logout"><p><button type="submit">Sign out</button></p></form>'
        "</body></html>"
    )
    return HTMLResponse(body, status_code, headers=_LOGIN_HEADERS)


def same_site(request: Request) -> bool:
    """A browser says where a request comes from (Sec-Fetch-Site); another site may not sign in."""
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def login(request: Request) -> Response:
    """GET: the form. POST: the token, once, in the body; a session cookie for the browser."""
    if request.method == "GET":
        return login_form()
    if not same_site(request):
        return PlainTextResponse("Sign in from the demo's own /login page.\n", status_code=403)
    body = await request.body()
    token = parse_qs(body[:4096].decode("latin-1")).get("token", [""])[0]
    if not hmac.compare_digest(token.encode(), TOKEN.encode()):
        return login_form('<p class="alert" role="alert">That is not the token.</p>', 401)
    response = RedirectResponse("/health", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(int(time.time()) + SESSION_SECONDS),
        max_age=SESSION_SECONDS,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


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
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ],
    lifespan=health.lifespan,
)


@health.on_change
def announce(change: StatusChange) -> None:
    """Where a service would page someone; the demo prints the change."""
    subject = change.check or "overall"
    print(f"[demo] {subject}: {change.old} -> {change.new}", flush=True)
