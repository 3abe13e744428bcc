"""Testing a service's health checks with healthkit.testing: a worked example.

The service is examples/service.py (liveness, readiness, startup, a cache on the database
check). The tests below are what you would write for your own app: each check on its own,
then the endpoints' configuration with dependencies forced to pass, fail or hang, on a
virtual clock (no test waits for real time), on asyncio and trio. It runs with healthkit's
own suite (``pytest examples``); copy the fixture and the patterns into your suite.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
import service  # the app under test: examples/service.py

from healthkit import Check, Status
from healthkit.testing import Forced, Outcome, forced, run_check, virtual_time


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Every async test here runs twice, on asyncio and trio, with a virtual clock:
    ``await anyio.sleep(30)`` takes no real time."""
    return virtual_time(request.param)


def check(name: str) -> Check:
    """One of the service's registered checks, by name."""
    return next(check for check in service.health.checks if check.name == name)


# --- each check on its own ---


@pytest.mark.anyio
async def test_the_event_loop_check_passes_and_reports_its_lag() -> None:
    report = await run_check(check("eventLoop:lag"))

    assert Status.PASS is report.status
    assert "ms" == report.observed_unit


# The database checks are plain functions: they run in a worker thread, and a virtual clock
# would jump past their timeout while the thread works. These tests take real time instead.
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_database_check_passes_once_migrations_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "DB_PATH", tmp_path / "orders.sqlite3")

    before = await run_check(check("sqlite:responseTime"))
    migrated = await run_check(check("migrations"))
    after = await run_check(check("sqlite:responseTime"))

    assert Status.FAIL is before.status  # no table yet
    assert before.output is not None
    assert before.output.startswith("OperationalError (error id ")
    assert Status.PASS is migrated.status
    assert (Status.PASS, "ms") == (after.status, after.observed_unit)


# --- the endpoints, with dependencies forced ---


@pytest.mark.anyio
async def test_readiness_fails_when_the_database_fails_but_liveness_passes() -> None:
    health = forced(
        service.health,
        {
            "sqlite:responseTime": Outcome.raises(sqlite3.OperationalError("database is locked")),
            "migrations": Outcome.passes(),
        },
    )

    ready = await health.run("readyz")
    live = await health.run("livez")

    assert (Status.FAIL, 503) == (ready.status, ready.status_code)
    assert ready.checks["sqlite:responseTime"].output is not None
    assert ready.checks["sqlite:responseTime"].output.startswith("OperationalError (error id ")
    assert (Status.PASS, 200) == (live.status, live.status_code)


@pytest.mark.anyio
async def test_a_hung_database_is_cut_at_its_timeout_and_readiness_answers_in_time() -> None:
    health = forced(service.health, {"sqlite:responseTime": Outcome.hangs(), "migrations": Outcome.passes()})
    started = anyio.current_time()

    report = await health.run("readyz")

    assert Status.FAIL is report.status
    assert "timed out after 0.5s" == report.checks["sqlite:responseTime"].output
    assert anyio.current_time() - started <= service.health.deadline


@pytest.mark.anyio
async def test_readiness_waits_for_the_migrations() -> None:
    migrations = Forced(Outcome.fails("3 migrations pending"))
    health = forced(service.health, {"migrations": migrations, "sqlite:responseTime": Outcome.passes()})

    starting = await health.run("readyz")
    migrations.outcome = Outcome.passes()
    ready = await health.run("readyz")

    assert (Status.FAIL, "starting: waiting for the startup checks to pass") == (
        starting.status,
        starting.reason,
    )
    assert Status.PASS is ready.status


@pytest.mark.anyio
async def test_the_database_is_asked_at_most_once_a_second() -> None:
    database = Forced()
    health = forced(service.health, {"sqlite:responseTime": database, "migrations": Outcome.passes()})

    for _ in range(5):
        await health.run("readyz")
    within_a_second = database.calls
    await anyio.sleep(1.5)  # virtual: takes no real time
    await health.run("readyz")

    assert (1, 2) == (within_a_second, database.calls)


@pytest.mark.anyio
async def test_maintenance_takes_the_service_out_of_rotation() -> None:
    health = forced(service.health, {"sqlite:responseTime": Outcome.passes(), "migrations": Outcome.passes()})

    health.set_ready(False, "maintenance")
    report = await health.run("readyz")

    assert (Status.FAIL, "not ready: maintenance") == (report.status, report.reason)
