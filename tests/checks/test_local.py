"""disk, sqlite, event loop and memory checks, on this machine."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from healthkit import Check, Health, Result
from healthkit_checks import disk, event_loop, memory, sqlite
from tests.checks.support import outcome
from tests.conftest import probe


async def test_disk_reports_utilization_in_percent(tmp_path: Path) -> None:
    item = await outcome(Check("disk:utilization", disk.usage(tmp_path, warn_at=None, fail_at=None)))

    assert "pass" == item["status"]
    assert "percent" == item["observedUnit"]
    assert 0 <= float(item["observedValue"]) <= 100  # type: ignore[arg-type]


async def test_disk_warns_and_fails_at_its_thresholds(tmp_path: Path) -> None:
    warned = await outcome(Check("disk", disk.usage(tmp_path, warn_at=0, fail_at=None)))
    failed = await outcome(Check("disk", disk.usage(tmp_path, warn_at=0, fail_at=0)))
    missing = await outcome(Check("disk", disk.usage(tmp_path / "nope")))

    assert "warn" == warned["status"]
    assert "fail" == failed["status"]
    assert str(warned["output"]).startswith(f"{tmp_path} is used at ")
    assert f"{tmp_path / 'nope'} does not exist" == missing["output"]


def test_thresholds_are_checked_when_the_check_is_made() -> None:
    with pytest.raises(ValueError, match=r"warn_at .* must not be above fail_at"):
        disk.usage("/", warn_at=95, fail_at=90)


async def test_sqlite_answers_a_query_and_reports_the_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")

    item = await outcome(Check("sqlite:responseTime", sqlite.query(path, "SELECT count(*) FROM orders")))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]


async def test_sqlite_fails_on_a_missing_file_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"

    item = await outcome(Check("sqlite", sqlite.query(path)))

    assert "missing.db: the database file cannot be opened" == item["output"]
    assert not path.exists()


async def test_event_loop_lag_passes_on_an_idle_loop() -> None:
    item = await outcome(Check("eventLoop:lag", event_loop.lag()))

    assert "pass" == item["status"]
    assert "ms" == item["observedUnit"]


async def test_event_loop_lag_fails_when_the_loop_is_blocked() -> None:
    lag = event_loop.lag(warn_at=50, fail_at=100)
    entered = anyio.Event()

    async def watched() -> Result:
        entered.set()
        return await lag()  # runs on to its nap before this task can resume

    health = Health([Check("eventLoop:lag", watched, timeout=2)], deadline=2)
    results: list[dict[str, object]] = []

    async def run() -> None:
        results.append((await probe(health))[1])

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await entered.wait()  # the check is asleep now
        time.sleep(0.3)  # noqa: ASYNC251 - blocking the loop is the point

    checks: dict[str, list[dict[str, object]]] = results[0]["checks"]  # type: ignore[assignment]
    assert "fail" == checks["eventLoop:lag"][0]["status"]


async def test_memory_reports_resident_size_or_utilization_against_a_limit() -> None:
    plain = await outcome(Check("memory", memory.resident()))
    tight = await outcome(Check("memory", memory.resident(limit_bytes=1, warn_at=80, fail_at=95)))

    assert plain["status"] == "pass"
    assert plain["observedUnit"] in {"MiB", "percent"}
    assert "fail" == tight["status"]
    assert "percent" == tight["observedUnit"]
