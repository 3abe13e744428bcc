"""The Python peers as benchmark contenders: each library's own documented way to serve /health.

Installed only in the bench's virtual environment (bench/requirements.txt). Every check counts
its calls in `counter` (for the coalescing row); every app also answers GET /calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def _sleeper(counter: list[int], delay: float) -> Callable[[], Any]:
    async def check() -> bool:
        counter[0] += 1
        if delay:
            await asyncio.sleep(delay)
        return True

    return check


async def _hang() -> bool:
    await asyncio.Event().wait()
    return True


def fastapi_health(counter: list[int], checks: int, delay: float, hang: bool) -> Any:
    from fastapi import FastAPI
    from fastapi_health import health

    conditions = []
    for n in range(checks):
        condition = _sleeper(counter, delay)
        condition.__name__ = f"check_{n}"  # health() turns conditions into parameters by name
        conditions.append(condition)
    if hang:
        conditions.append(_hang)
    app = FastAPI()
    app.add_api_route("/health", health(conditions))
    return app


def aaa_sentinel_health(counter: list[int], checks: int, delay: float, hang: bool) -> Any:
    from aaa_sentinel_health import run_health_checks_async
    from fastapi import FastAPI, Response

    registry: dict[str, Callable[[], Any]] = {f"check_{n}": _sleeper(counter, delay) for n in range(checks)}
    if hang:
        registry["hang"] = _hang
    app = FastAPI()

    @app.get("/health")
    async def health() -> Response:
        result = await run_health_checks_async(registry)
        return Response(result["body"], result["statusCode"], result["headers"])

    return app


def aio_tiny_healthcheck(counter: list[int], checks: int, delay: float, hang: bool) -> Any:
    from aio_tiny_healthcheck.checker import Checker
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    checker = Checker()
    for n in range(checks):
        checker.add_check(f"check_{n}", _sleeper(counter, delay))
    if hang:
        checker.add_check("hang", _hang)
    app = FastAPI()

    @app.get("/health")
    async def health() -> JSONResponse:
        answer = await checker.check_handler()
        return JSONResponse(answer.body, status_code=answer.code)

    return app


def fastapi_healthchecks(counter: list[int], checks: int, delay: float, hang: bool) -> Any:
    from fastapi import FastAPI
    from fastapi_healthchecks.api.router import HealthcheckRouter, Probe
    from fastapi_healthchecks.checks import Check, CheckResult

    class Sleep(Check):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            self._name = name
            self._check = _sleeper(counter, delay)

        async def __call__(self) -> CheckResult:
            await self._check()
            return CheckResult(name=self._name, passed=True)

    class Hang(Check):  # type: ignore[misc]
        async def __call__(self) -> CheckResult:
            await _hang()
            return CheckResult(name="hang", passed=True)

    items: list[Any] = [Sleep(f"check_{n}") for n in range(checks)]
    if hang:
        items.append(Hang())
    app = FastAPI()
    app.include_router(HealthcheckRouter(Probe(name="health", checks=items)))  # serves /health
    return app


PEERS = {
    "fastapi-health": fastapi_health,
    "aaa-sentinel-health": aaa_sentinel_health,
    "aio-tiny-healthcheck": aio_tiny_healthcheck,
    "fastapi-healthchecks": fastapi_healthchecks,
}


def make(name: str, *, counter: list[int], calls_route: Any, checks: int, delay: float, hang: bool) -> Any:
    app = PEERS[name](counter, checks, delay, hang)
    app.add_route("/calls", calls_route)
    return app
