"""Health endpoints in every state, for the command line's tests (tests/test_cli.py).

    uvicorn tests.apps.cli_app:app

- ``/pass``, ``/warn``, ``/fail``: a Health in that state (statuses only, as shipped);
  ``/fail-details``: failing, with details shown (the outputs hold a token);
  ``/maintenance/readyz``: readiness of a Health marked not ready, details shown;
- ``/hung``: a route that never answers; ``/plain``: ``200`` with a text page;
  ``/broken``: ``500`` with an HTML page; ``/big``: ``503`` with 1 MiB of health+json;
  ``/moved``: ``302`` to ``/fail``.

For ``healthkit run`` and ``describe``: ``passing``, ``warning``, ``failing``, ``background``
(a check refreshed in the background) and ``health`` (every setting ``describe`` shows).
"""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from healthkit import Check, Health, Probe, Result, Status

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # a made-up GitHub token


async def ok() -> None:
    return None


async def lagging() -> Result:
    return Result(Status.WARN, output="replica lag 12s", observed_value=12, observed_unit="s")


async def refused() -> None:
    raise ConnectionRefusedError(f"postgresql://app:{TOKEN}@db/app refused")


async def leaky() -> Result:
    return Result(Status.FAIL, output=f"search answered 401 for token={TOKEN}")


passing = Health([Check("db", ok), Check("cache", ok)])
warning = Health([Check("db", ok), Check("replica", lagging)])
failing = Health([Check("db", refused), Check("replica", lagging), Check("cache", ok)])
shown = Health([Check("db", refused), Check("search", leaky)], report=Probe(details="always"))
maintenance = Health([Check("db", ok)], readiness=Probe(details="always"))
maintenance.set_ready(False, "maintenance")

background = Health([Check("billing", ok, refresh_every=30)])


async def stuck() -> None:
    await anyio.sleep(10)


health = Health(
    [
        Check("eventLoop:lag", ok, tags={"live"}, component_type="system"),
        Check("db", ok, external=True, component_type="datastore", cache_ttl=2, stale_while_revalidate=10),
        Check("billing", ok, refresh_every=15, timeout=2),
        Check("search", ok, critical=False, failure_threshold=3, success_threshold=2, max_time_in_error=30),
        Check("migrations", ok, tags={"startup"}),
        Check("upstream", stuck, timeout=1.5),
        Check("queue", ok, tags={"live"}, external=True),
    ],
    service_id="orders",
    version="3",
    cache_ttl=1,
    readiness=Probe(warn_only={"db"}, period_seconds=20),
    drain_delay=15,
)


async def hung(request: Request) -> Response:
    await anyio.sleep_forever()
    raise AssertionError  # never reached


async def plain(request: Request) -> Response:
    return PlainTextResponse("hello\n")


async def broken(request: Request) -> Response:
    return HTMLResponse("<html><body><h1>Internal Server Error</h1></body></html>", status_code=500)


async def big(request: Request) -> Response:
    padding = "x" * (1024 * 1024)
    body = f'{{"status": "fail", "notes": ["{padding}"], "checks": {{"db": [{{"status": "fail"}}]}}}}'
    return Response(body, status_code=503, media_type="application/health+json")


async def moved(request: Request) -> Response:
    return RedirectResponse("/fail", status_code=302)


app = Starlette(
    routes=[
        Route("/pass", passing),
        Route("/warn", warning),
        Route("/fail", failing),
        Route("/fail-details", shown),
        Mount("/maintenance", routes=maintenance.routes()),
        Route("/hung", hung),
        Route("/plain", plain),
        Route("/broken", broken),
        Route("/big", big),
        Route("/moved", moved),
    ]
)
