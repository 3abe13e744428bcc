"""Edges of the shared-call engine found in review: each test pins one (virtual time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from healthkit import Check, Health, Result, Status, StatusChange
from tests.conftest import lifespan, no_id, probe
from tests.support import virtual_time  # noqa: F401  (both loops, virtual time)
from tests.virtual_time import virtual_backend


async def test_a_probes_deadline_does_not_bypass_flap_damping() -> None:
    async def slow() -> None:
        await anyio.sleep(0.8)

    health = Health([Check("db", slow, timeout=1, failure_threshold=3)], deadline=0.5)

    code, body = await probe(health)

    assert 200 == code
    assert "warn" == body["checks"]["db"][0]["status"]
    assert body["checks"]["db"][0]["output"].endswith("failed 1 in a row (fail after 3 in a row)")


async def test_listeners_hear_of_fails_that_are_not_a_calls_result() -> None:
    hang = anyio.Event()

    async def refreshed() -> None:
        if hang.is_set():
            await anyio.sleep(60)

    health = Health(
        [Check("db", refreshed, timeout=30, refresh_every=1, refresh_jitter=0, max_age=3)], deadline=0.5
    )
    changes: list[tuple[str | None, Status | None, Status]] = []
    health.on_change(lambda change: changes.append((change.check, change.old, change.new)))

    async with lifespan(health):
        await probe(health)
        hang.set()
        await anyio.sleep(5)  # the refresh hangs; the last result grows older than max_age
        code, body = await probe(health)

    assert 503 == code
    assert body["checks"]["db"][0]["output"].startswith("last result is ")
    assert ("db", Status.PASS, Status.FAIL) in changes


async def test_a_cancelled_probe_does_not_fail_the_probes_sharing_its_call() -> None:
    async def slow() -> None:
        await anyio.sleep(0.3)

    health = Health([Check("db", slow)], deadline=0.8)
    codes: list[int] = []

    async def second() -> None:
        codes.append((await probe(health))[0])

    async with anyio.create_task_group() as group:
        with anyio.move_on_after(0.1):  # the first probe's client goes away
            group.start_soon(second)
            await probe(health)

    assert [200] == codes


async def test_leaving_the_lifespan_waits_for_the_calls_it_cancels() -> None:
    events: list[str] = []
    pool_open = False

    async def uses_pool() -> None:
        try:
            await anyio.sleep(10)
        finally:
            events.append(f"check cleaned up, pool open: {pool_open}")

    health = Health([Check("db", uses_pool, timeout=20, refresh_every=30)])

    @asynccontextmanager
    async def pool() -> AsyncIterator[None]:
        nonlocal pool_open
        pool_open = True
        yield
        pool_open = False
        events.append("pool closed")

    async with pool(), health.running():
        await anyio.sleep(1)  # the background call is in flight

    assert ["check cleaned up, pool open: True", "pool closed"] == events


async def overall_changes_for_two_overlapping_probes() -> list[Status]:
    flag = Status.PASS

    async def slow() -> None:
        await anyio.sleep(1)

    async def switch() -> Result:
        return Result(flag, output=None if flag is Status.PASS else "off")

    health = Health([Check("db", slow, timeout=2), Check("flag", switch)], deadline=1.5)
    overall: list[Status] = []
    health.on_change(lambda change: overall.append(change.new) if change.check is None else None)

    async with anyio.create_task_group() as group:
        group.start_soon(probe, health)  # sees flag pass, waits for db
        await anyio.sleep(0.5)
        flag = Status.WARN
        group.start_soon(probe, health)  # sees flag warn, waits for the same db call
    return overall


async def test_older_probe_snapshots_never_override_newer_ones() -> None:
    for _ in range(20):  # both probes wake when the db call ends, in either order (trio)
        overall = await overall_changes_for_two_overlapping_probes()

        assert Status.WARN == overall[-1]
        assert Status.PASS not in overall[overall.index(Status.WARN) :]


async def test_a_check_raising_generator_exit_is_its_failure_not_a_stuck_call() -> None:
    calls = 0

    async def odd() -> None:
        nonlocal calls
        calls += 1
        raise GeneratorExit

    health = Health([Check("odd", odd)])

    async with lifespan(health):
        first = await probe(health)
        second = await probe(health)

    assert (503, "GeneratorExit") == (first[0], no_id(first[1]["checks"]["odd"][0]["output"]))
    assert 503 == second[0]
    assert 2 == calls


async def test_refresh_intervals_run_from_one_calls_start_to_the_next() -> None:
    starts: list[float] = []

    async def one_second() -> None:
        starts.append(anyio.current_time())
        await anyio.sleep(1)

    health = Health([Check("db", one_second, timeout=2, refresh_every=5, refresh_jitter=0)], deadline=1.5)

    async with lifespan(health):
        await anyio.sleep(60.5)

    assert [starts[0] + 5 * n for n in range(13)] == starts


async def test_a_call_cut_by_a_deadline_is_not_logged_as_slow(caplog: pytest.LogCaptureFixture) -> None:
    async def hangs() -> None:
        await anyio.sleep(60)

    health = Health([Check("db", hangs, timeout=1)], deadline=0.85)

    with caplog.at_level(logging.WARNING, logger="healthkit"):
        await probe(health)
        await anyio.sleep(2)

    assert "slow" not in caplog.text


@pytest.mark.parametrize("anyio_backend", [virtual_backend("asyncio")])
async def test_a_check_raising_cancelled_error_itself_is_a_cached_failure() -> None:
    calls = 0

    async def odd() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    health = Health([Check("odd", odd, cache_ttl=5)])

    outcomes = [await probe(health) for _ in range(3)]

    assert {(503, "CancelledError")} == {
        (code, no_id(body["checks"]["odd"][0]["output"])) for code, body in outcomes
    }
    assert 1 == calls


def test_how_long_a_status_lasted_is_not_measured_across_event_loops() -> None:
    flag = Status.PASS

    async def switch() -> Result:
        return Result(flag, output="x")

    health = Health([Check("db", switch)])
    changes: list[StatusChange] = []
    health.on_change(lambda change: changes.append(change) if change.check else None)

    anyio.run(probe, health, backend="trio")
    flag = Status.FAIL
    anyio.run(probe, health, backend="trio")

    assert [None, None] == [change.lasted for change in changes]
