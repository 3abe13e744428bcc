"""healthkit's gRPC health service beside a Starlette app: tests/test_grpc.py and
tests/checks/test_grpc.py start it under a real uvicorn (tests/grpc_serving.py).

    HEALTHKIT_GRPC_PORT=50051 uvicorn tests.apps.grpc_app:app

``POST /db/pass``, ``/db/warn``, ``/db/fail`` set what the readiness check ``db`` returns from
its next call on; ``DELETE /ready`` marks the service not ready (``maintenance``) and ``POST
/ready`` ready again. The probes are at ``/livez``, ``/readyz``, ``/startupz`` and ``/health``.

Settings from the environment: ``HEALTHKIT_GRPC_PORT`` (the gRPC port; required) and
``HEALTHKIT_DRAIN_DELAY`` (seconds of the drain on SIGTERM; empty: no drain).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from healthkit import Check, Health, Probe, Result, Status
from healthkit.grpc import HealthServer

_drain = os.environ.get("HEALTHKIT_DRAIN_DELAY", "")
state = {"db": Status.PASS}


async def db() -> Result:
    return Result(state["db"], output=f"db answers {state['db'].value}")


async def process() -> None:
    return None


health = Health(
    [Check("db", db), Check("process", process, tags={"live"})],
    readiness=Probe(period_seconds=1),
    drain_delay=float(_drain) if _drain else None,
)
grpc_health = HealthServer(health, port=int(os.environ["HEALTHKIT_GRPC_PORT"]), host="127.0.0.1")


async def set_db(request: Request) -> PlainTextResponse:
    state["db"] = Status(request.path_params["status"])
    return PlainTextResponse(state["db"].value)


async def ready(request: Request) -> PlainTextResponse:
    health.set_ready(request.method == "POST", None if request.method == "POST" else "maintenance")
    return PlainTextResponse(request.method)


app = Starlette(
    routes=[
        *health.routes(),
        Route("/db/{status}", set_db, methods=["POST"]),
        Route("/ready", ready, methods=["POST", "DELETE"]),
    ],
    lifespan=grpc_health.lifespan,
)
