"""Helpers the tests share: a counting check, a passing one, an app, virtual time."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.applications import Starlette

from healthkit import Health, Result, Status
from tests.virtual_time import virtual_backend


class Counted:
    """An async check that counts its calls. It takes ``duration`` seconds, then reports
    ``outcome``: None (pass), a Result, or a Status with ``output`` (a fail without an output
    raises ConnectionError, as a driver would)."""

    def __init__(
        self, outcome: Result | Status | None = None, output: str | None = None, *, duration: float = 0.0
    ) -> None:
        self.calls = 0
        self.outcome = outcome
        self.output = output
        self.duration = duration

    async def __call__(self) -> Result | None:
        self.calls += 1
        if self.duration:
            await anyio.sleep(self.duration)
        outcome = self.outcome
        if outcome is None or isinstance(outcome, Result):
            return outcome
        if outcome is Status.PASS:
            return None
        if outcome is Status.FAIL and self.output is None:
            raise ConnectionError
        return Result(outcome, output=self.output)


async def passing() -> None:
    return None


def app_with(health: Health) -> Starlette:
    """An app serving all of a Health's endpoints."""
    return Starlette(routes=health.routes())


@pytest.fixture(name="anyio_backend", params=["asyncio", "trio"])
def virtual_time(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Both event loops with virtual time (tests/virtual_time.py): import it into a test module
    to run that module's tests so."""
    return virtual_backend(str(request.param))
