"""The kept answer: a statuses-only answer made of fresh results is served again, without a run,
until one of them goes stale or anything changes (a call lands, readiness is set, the drain)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.applications import Starlette

import healthkit._runner
from healthkit import Check, Health, Probe, ProbeAnswered, Status
from tests.conftest import document, lifespan, request
from tests.support import Counted, app_with, virtual_time  # noqa: F401  (virtual_time: both loops, virtual time)

pytestmark = pytest.mark.shipping_defaults  # statuses only on the probes: the kept answer's case


async def answer(app: Starlette, path: str = "/readyz") -> tuple[int, dict[str, Any]]:
    response = await request(app, path=path)
    return response.status_code, document(response)


def statuses(**checks: str) -> dict[str, Any]:
    overall = "fail" if "fail" in checks.values() else "pass"
    return {"status": overall, "checks": {name: [{"status": status}] for name, status in checks.items()}}


async def test_a_new_background_result_changes_the_answer_at_once() -> None:
    db = Counted()
    health = Health([Check("db", db, refresh_every=10, refresh_jitter=0, timeout=1)])
    app = app_with(health)

    async with lifespan(health):
        await anyio.sleep(0.5)  # the first background call has landed
        first = [await answer(app) for _ in range(3)]  # made once, then kept
        db.outcome = Status.FAIL
        await anyio.sleep(10.5)  # the next background call has landed: its result is 9.5 s fresh
        after = await answer(app)
        db.outcome = None
        await anyio.sleep(10)
        back = await answer(app)

    assert [(200, statuses(db="pass"))] * 3 == first
    assert (503, statuses(db="fail")) == after
    assert (200, statuses(db="pass")) == back
    assert 3 == db.calls


async def test_a_cached_answer_holds_for_the_ttl_and_not_a_moment_longer() -> None:
    db, cache = Counted(), Counted()
    health = Health([Check("db", db, cache_ttl=2), Check("cache", cache, cache_ttl=5)])
    app = app_with(health)

    await answer(app)  # t=0: both called
    db.outcome = cache.outcome = Status.FAIL
    await anyio.sleep(1.9)
    held = await answer(app)
    await anyio.sleep(0.2)  # t=2.1: db's result is stale, cache's is not
    expired = await answer(app)

    assert (200, statuses(db="pass", cache="pass")) == held
    assert (503, statuses(db="fail", cache="pass")) == expired
    assert (2, 1) == (db.calls, cache.calls)


async def test_setting_readiness_changes_the_answer_at_once() -> None:
    health = Health([Check("db", Counted(), cache_ttl=60)])
    app = app_with(health)

    ready = [await answer(app) for _ in range(2)]
    health.set_ready(False, "maintenance")
    down = await answer(app)
    health.set_ready(True)
    back = await answer(app)

    assert [(200, statuses(db="pass"))] * 2 == ready
    assert 503 == down[0]
    assert (200, statuses(db="pass")) == back


async def test_the_startup_answer_follows_the_startup_checks() -> None:
    schema = Counted(Status.FAIL)
    health = Health([Check("schema", schema, tags={"startup"}, cache_ttl=60)])
    app = app_with(health)

    starting = [await answer(app, "/startupz") for _ in range(2)]
    await anyio.sleep(61)
    schema.outcome = None
    started = [await answer(app, "/startupz") for _ in range(2)]
    ready = await answer(app)

    assert [(503, statuses(schema="fail"))] * 2 == starting
    # The probe that saw them pass completed startup: the next ones answer without them.
    assert [(200, statuses(schema="pass")), (200, {"status": "pass"})] == started
    assert 200 == ready[0]


async def test_every_probe_is_observed_kept_answer_or_not() -> None:
    seen: list[ProbeAnswered] = []

    class Recorder:
        def call_ended(self, event: object) -> None:
            return None

        def probe_answered(self, event: ProbeAnswered) -> None:
            seen.append(event)

    health = Health([Check("db", Counted(), cache_ttl=60)])
    health.observe(Recorder())
    app = app_with(health)

    for _ in range(5):
        await answer(app)

    assert [("readyz", 200)] * 5 == [(event.endpoint, event.status_code) for event in seen]


@pytest.fixture
def gathered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item for each time an endpoint's checks are gathered (a run that is not kept)."""
    runs: list[int] = []
    gather = healthkit._runner.gather

    async def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return await gather(*args, **kwargs)

    monkeypatch.setattr(healthkit._runner, "gather", counted)
    return runs


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio's probes always run (no kept answer)
async def test_a_kept_answer_runs_nothing(gathered: list[int]) -> None:
    db = Counted()
    health = Health([Check("db", db, cache_ttl=60)], readiness=Probe(details="never"))
    app = app_with(health)

    codes = [(await request(app, path="/readyz")).status_code for _ in range(20)]
    runs = len(gathered)
    verbose = await request(app, path="/readyz?verbose")

    assert [200] * 20 == codes
    # The first probe called the check, the second served its result again and kept that
    # answer: the 18 after them were answered as kept.
    assert 2 == runs
    assert 1 == db.calls
    # A text listing is never the kept answer: it is rendered, from the kept report.
    assert (200, "text/plain; charset=utf-8") == (verbose.status_code, verbose.headers["content-type"])
    assert "db" in verbose.text
    assert 2 == len(gathered)


async def test_a_kept_answer_answers_each_method_and_echoes_each_request_id() -> None:
    health = Health([Check("db", Counted(), cache_ttl=60)])
    app = app_with(health)

    get = await request(app, path="/readyz", headers={"x-request-id": "first"})
    again = await request(app, path="/readyz", headers={"x-request-id": "second"})
    head = await request(app, "HEAD", "/readyz")
    options = await request(app, "OPTIONS", "/readyz")

    assert "first" == get.headers["x-request-id"]
    assert "second" == again.headers["x-request-id"]
    assert "x-request-id" not in head.headers
    assert (200, b"", get.headers["content-length"]) == (
        head.status_code,
        head.content,
        head.headers["content-length"],
    )
    assert "GET, HEAD, OPTIONS" == options.headers["allow"]
    assert get.content == again.content == options.content


async def test_a_kept_report_is_served_again_with_its_ages_grown() -> None:
    db, cache = Counted(), Counted()
    health = Health([Check("db", db, cache_ttl=2), Check("cache", cache, cache_ttl=5)])

    await health.run()  # t=0: both called
    await anyio.sleep(1)
    first = await health.run()  # served again: kept from here
    await anyio.sleep(0.5)
    again = await health.run()
    db.outcome = Status.FAIL
    await anyio.sleep(0.6)  # t=2.1: db's result is stale, cache's is not
    expired = await health.run()

    assert (1.0, 1.0) == (first.checks["db"].age, first.checks["cache"].age)
    assert (1.5, 1.5) == (again.checks["db"].age, again.checks["cache"].age)
    assert first.checks["db"].time == again.checks["db"].time
    assert (Status.FAIL, None) == (expired.checks["db"].status, expired.checks["db"].age)
    assert 2.1 == pytest.approx(expired.checks["cache"].age)
    assert (2, 1) == (db.calls, cache.calls)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio's runs always run
async def test_a_kept_report_runs_nothing_and_renders_like_a_run(gathered: list[int]) -> None:
    health = Health([Check("db", Counted(), cache_ttl=60)], readiness=Probe(details="always"))
    app = app_with(health)

    bodies = [document(await request(app, path="/readyz")) for _ in range(10)]

    assert 2 == len(gathered)  # a call, then a result served again: the 8 after it were kept
    assert all(body["checks"]["db"][0]["ageMs"] > 0 for body in bodies[1:])
    ages = [body["checks"]["db"][0]["ageMs"] for body in bodies[1:]]
    assert ages == sorted(ages)  # each answer is later than the one before
    assert {body["checks"]["db"][0]["time"] for body in bodies} == {bodies[0]["checks"]["db"][0]["time"]}


def test_a_kept_answer_is_not_sent_on_another_event_loop() -> None:
    db = Counted()
    health = Health([Check("db", db, cache_ttl=60)], readiness=Probe(details="always"))
    app = app_with(health)

    async def probes() -> list[int]:
        return [(await request(app, path="/readyz")).status_code for _ in range(3)]

    first = anyio.run(probes)
    db.outcome = Status.FAIL
    second = anyio.run(probes)  # a new loop: the results of the last one mean nothing here

    assert ([200] * 3, [503] * 3) == (first, second)
    assert 2 == db.calls


def test_a_kept_statuses_only_answer_is_not_sent_on_another_event_loop() -> None:
    db = Counted()
    app = app_with(Health([Check("db", db, cache_ttl=60)]))

    async def probes() -> list[int]:
        return [(await request(app, path="/readyz")).status_code for _ in range(3)]

    first = anyio.run(probes)
    db.outcome = Status.FAIL
    second = anyio.run(probes)

    assert ([200] * 3, [503] * 3) == (first, second)
