"""Background refresh in the app's lifespan (virtual time)."""

from __future__ import annotations

import anyio
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from healthkit import Check, Health
from tests.conftest import lifespan, probe
from tests.support import virtual_time  # noqa: F401  (both loops, virtual time)


class Recorded:
    """An async check that records when it is called and can be made to hang."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.hang_for = 0.0
        self.cancelled = False

    async def __call__(self) -> None:
        self.times.append(anyio.current_time())
        try:
            await anyio.sleep(self.hang_for)
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise


async def test_refreshes_on_its_interval_and_probes_never_wait_or_call() -> None:
    check = Recorded()
    health = Health([Check("db", check, refresh_every=5, refresh_jitter=0)])
    waits: list[float] = []

    async with lifespan(health):
        start = anyio.current_time()
        for _ in range(61):  # a probe every second for a minute
            asked = anyio.current_time()
            code, _ = await probe(health)
            waits.append(anyio.current_time() - asked)
            assert 200 == code
            await anyio.sleep(1)

    assert [start + 5 * n for n in range(13)] == check.times  # at 0, 5, ..., 60 s
    assert {0.0} == set(waits)


async def test_each_wait_adds_a_random_jitter_within_bounds() -> None:
    check = Recorded()
    health = Health([Check("db", check, refresh_every=10, refresh_jitter=2)])

    async with lifespan(health):
        await anyio.sleep(120)

    gaps = [later - earlier for earlier, later in zip(check.times, check.times[1:], strict=False)]
    assert len(gaps) >= 9
    assert all(10 <= gap <= 12 for gap in gaps)
    assert len({round(gap, 6) for gap in gaps}) > 1  # random: not one constant interval


async def test_the_first_call_waits_for_the_initial_delay() -> None:
    check = Recorded()
    health = Health([Check("db", check, refresh_every=10, initial_delay=3)])

    async with lifespan(health):
        await anyio.sleep(1)
        code, early = await probe(health)
        await anyio.sleep(3)
        later_code, later = await probe(health)

    assert 503 == code
    assert "no result yet: the first background call is due in 2s" == early["checks"]["db"][0]["output"]
    assert 200 == later_code
    assert 1000.0 == later["checks"]["db"][0]["ageMs"]


async def test_a_result_older_than_max_age_is_a_fail_that_says_how_old() -> None:
    check = Recorded()
    health = Health(
        [Check("db", check, timeout=10, refresh_every=1, refresh_jitter=0, max_age=3)], deadline=1
    )

    async with lifespan(health):
        await anyio.sleep(0.5)
        check.hang_for = 9  # from the call at 1 s on, each call hangs (within its 10 s timeout)
        await anyio.sleep(3)  # t=3.5: the last result (from 0 s) is 3.5 s old
        code, body = await probe(health)

    assert 503 == code
    assert (
        "last result is 3.5s old, older than the allowed 3s: the background refresh is not keeping up"
        == body["checks"]["db"][0]["output"]
    )


async def test_without_the_lifespan_a_background_check_says_what_to_do() -> None:
    health = Health([Check("db", Recorded(), refresh_every=5)])

    code, body = await probe(Starlette(routes=health.routes()))

    assert 503 == code
    assert (
        "background refresh is not running: run the app with lifespan=health.lifespan, or call "
        "health.install(app)" == body["checks"]["db"][0]["output"]
    )


async def test_leaving_the_lifespan_stops_refreshes_and_cancels_calls_in_flight() -> None:
    check = Recorded()
    health = Health([Check("db", check, timeout=10, refresh_every=2, refresh_jitter=0)])

    async with lifespan(health):
        await anyio.sleep(4.5)  # calls at 0, 2, 4; the one at 6 will hang
        check.hang_for = 5
        await anyio.sleep(2)
    calls = len(check.times)
    await anyio.sleep(60)

    assert 4 == calls
    assert calls == len(check.times)
    assert check.cancelled


async def test_runs_in_a_starlette_lifespan() -> None:
    check = Recorded()
    health = Health([Check("db", check, refresh_every=5)])
    app = Starlette(routes=[Route("/health", health)], lifespan=health.lifespan)

    async with lifespan(app):
        code, _ = await probe(app)

    assert 200 == code
    assert 1 == len(check.times)


async def test_the_lifespan_composes_with_the_apps_own() -> None:
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    check = Recorded()
    health = Health([Check("db", check, refresh_every=5)])
    events: list[str] = []

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("app up")
        async with health.running():
            yield
        events.append("app down")

    app = Starlette(routes=[Route("/health", health)], lifespan=app_lifespan)

    async with lifespan(app):
        code, _ = await probe(app)

    assert 200 == code
    assert ["app up", "app down"] == events


async def test_entering_the_lifespan_twice_is_refused() -> None:
    health = Health([Check("db", Recorded(), refresh_every=5)])

    async with health.running():
        with pytest.raises(RuntimeError, match="already running"):
            async with health.running():
                pass
