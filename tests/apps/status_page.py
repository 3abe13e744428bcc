"""A service whose checks the test sets, for the status page in a real browser
(tests/test_browser.py serves it with uvicorn: ``uvicorn status_page:app --app-dir tests/apps``).

``POST /control?check=NAME&status=pass|warn|fail&output=TEXT`` sets what a settable check
reports from its next call on. Details are shown to ``Authorization: Bearer $PAGE_TOKEN``.
One check's output is markup that would set ``document.title`` and ``window.pwned`` if a
browser ran it.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from healthkit import Check, Health, Result, Status, bearer_token

TOKEN = os.environ.get("PAGE_TOKEN", "page-test-token-0123456789")
HOSTILE = (
    "<script>document.title='pwned';window.pwned=1</script>"
    "<img src=x onerror=\"document.title='pwned';window.pwned=1\"> 3 notes waiting"
)

#: check name -> (status, output), read on every call
settings: dict[str, tuple[Status, str | None]] = {
    "postgres:responseTime": (Status.PASS, None),
    "billing-api": (Status.PASS, None),
}


def settable(name: str, value: float, unit: str) -> Check:
    async def check() -> Result:
        status, output = settings[name]
        return Result(status, output=output, observed_value=value, observed_unit=unit)

    return Check(name, check, component_type="datastore" if ":" in name else "component")


async def mail() -> None:
    raise ConnectionRefusedError


async def notes() -> Result:
    return Result(Status.WARN, output=HOSTILE, observed_value=3, observed_unit="notes")


async def disk() -> Result:
    return Result(Status.PASS, observed_value=41.2, observed_unit="percent")


health = Health(
    [
        settable("postgres:responseTime", 2.4, "ms"),
        settable("billing-api", 18, "ms"),
        Check("mail:connections", mail, component_type="component", critical=False),
        Check("notes", notes, critical=False),
        Check("disk:utilization", disk, component_type="system"),
    ],
    service_id="billing",
    version="3",
    release_id="3.1.4",
    description="Billing API",
    authorize=bearer_token(TOKEN),
)


async def control(request: Request) -> JSONResponse:
    name = request.query_params["check"]
    status = Status(request.query_params["status"])
    settings[name] = (status, request.query_params.get("output"))
    return JSONResponse({name: status.value})


app = Starlette(
    routes=[*health.routes(), Route("/control", control, methods=["POST"])], lifespan=health.lifespan
)
