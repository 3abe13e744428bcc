"""Protecting dependencies: shared calls, result cache, stale-while-revalidate (virtual time)."""

from __future__ import annotations

import anyio
import pytest

from healthkit import Check, Health, Status
from tests.conftest import lifespan, probe
from tests.support import Counted, virtual_time  # noqa: F401  (virtual_time: both loops, virtual time)


async def test_a_burst_of_1000_concurrent_probes_runs_each_check_once() -> None:
    db, cache = Counted(duration=0.1), Counted(duration=0.2)
    health = Health([Check("db", db), Check("cache", cache)])
    codes: list[int] = []

    async def one() -> None:
        codes.append((await probe(health))[0])

    started = anyio.current_time()
    async with anyio.create_task_group() as group:
        for _ in range(1000):
            group.start_soon(one)

    assert [200] * 1000 == codes
    assert 1 == db.calls
    assert 1 == cache.calls
    assert 0.2 == pytest.approx(anyio.current_time() - started)


async def test_without_a_cache_every_probe_after_a_call_runs_the_check_again() -> None:
    db = Counted()
    health = Health([Check("db", db)])

    for _ in range(5):
        await probe(health)
        await anyio.sleep(0.25)

    assert 5 == db.calls


@pytest.mark.parametrize("status", [Status.PASS, Status.FAIL])
async def test_a_cached_result_is_reused_for_its_ttl_failures_too(status: Status) -> None:
    db = Counted(status, "down")
    health = Health([Check("db", db, cache_ttl=2)])

    for _ in range(40):  # a probe every 0.25 s for 10 s
        await probe(health)
        await anyio.sleep(0.25)

    assert 5 == db.calls  # at 0, 2, 4, 6 and 8 s


async def test_the_health_wide_ttl_applies_unless_a_check_sets_its_own() -> None:
    shared, own, uncached = Counted(), Counted(), Counted()
    health = Health(
        [Check("shared", shared), Check("own", own, cache_ttl=5), Check("uncached", uncached, cache_ttl=0)],
        cache_ttl=1,
    )

    for _ in range(20):  # a probe every 0.5 s for 10 s
        await probe(health)
        await anyio.sleep(0.5)

    assert (10, 2, 20) == (shared.calls, own.calls, uncached.calls)


async def test_a_cached_result_says_when_it_ran_and_how_old_it_is() -> None:
    health = Health([Check("db", Counted(), cache_ttl=10)])

    _, fresh = await probe(health)
    await anyio.sleep(1.5)
    _, cached = await probe(health)

    assert "ageMs" not in fresh["checks"]["db"][0]
    assert fresh["checks"]["db"][0]["time"] == cached["checks"]["db"][0]["time"]
    assert 1500.0 == cached["checks"]["db"][0]["ageMs"]


async def test_an_expired_result_is_served_while_one_refresh_runs() -> None:
    db = Counted(duration=0.5)
    health = Health([Check("db", db, timeout=1, cache_ttl=1, stale_while_revalidate=5)], deadline=1)

    async with lifespan(health):
        await probe(health)  # t=0: the first call; the probe waits for it (ends at 0.5)
        await anyio.sleep(1.5)  # t=2: expired 0.5 s ago
        asked = anyio.current_time()
        _, stale = await probe(health)
        answered_in = anyio.current_time() - asked
        _, still_stale = await probe(health)  # the refresh is running: no second refresh
        await anyio.sleep(1)  # t=3: the refresh ended at 2.5
        _, refreshed = await probe(health)

    assert 0 == answered_in
    assert 1500.0 == stale["checks"]["db"][0]["ageMs"]
    assert 1500.0 == still_stale["checks"]["db"][0]["ageMs"]
    assert 500.0 == refreshed["checks"]["db"][0]["ageMs"]
    assert 2 == db.calls


async def test_past_the_stale_window_a_probe_waits_for_a_new_call() -> None:
    db = Counted(duration=0.5)
    health = Health([Check("db", db, timeout=1, cache_ttl=1, stale_while_revalidate=2)], deadline=1)

    async with lifespan(health):
        await probe(health)
        await anyio.sleep(10)
        asked = anyio.current_time()
        _, body = await probe(health)

    assert 0.5 == anyio.current_time() - asked
    assert "ageMs" not in body["checks"]["db"][0]
    assert 2 == db.calls


def test_stale_while_revalidate_without_a_cache_is_refused() -> None:
    with pytest.raises(ValueError, match="stale_while_revalidate needs a cache"):
        Health([Check("db", Counted(), stale_while_revalidate=5)])


async def test_a_call_that_outlives_its_probe_is_shared_by_the_next_probes() -> None:
    slow = Counted(duration=0.6)
    health = Health([Check("slow", slow, timeout=1)], deadline=0.4)

    async with lifespan(health):
        _, first = await probe(health)  # answers at its 0.4 s deadline; the call goes on
        _, second = await probe(health)  # joins the same call, which ends at 0.6
        await anyio.sleep(1)
        _, third = await probe(health)  # the call ended: a new call, again longer than the deadline

    assert "timed out after 0.4s (the probe's deadline)" == first["checks"]["slow"][0]["output"]
    assert "pass" == second["checks"]["slow"][0]["status"]
    assert "timed out after 0.4s (the probe's deadline)" == third["checks"]["slow"][0]["output"]
    assert 2 == slow.calls
