"""healthkit.testing: run_check, forced outcomes and virtual time, on asyncio and trio."""

from __future__ import annotations

import dataclasses
import inspect
import time
from typing import Any

import anyio
import pytest

from healthkit import Check, CheckReport, Health, Probe, Result, Status, bearer_token
from healthkit._settings import Settings
from healthkit.testing import Forced, Outcome, VirtualTimeLoop, forced, run_check, virtual_time
from tests.apps.cli_app import TOKEN
from tests.support import Counted


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time(request.param)


# --- run_check and the outcomes ---


async def test_each_outcome_is_reported_as_a_probe_reports_it() -> None:
    check = Check("db", Counted(), timeout=0.5)

    passed = await run_check(forced(check, Outcome.passes()))
    warned = await run_check(forced(check, Outcome.warns("replica lag 12s")))
    failed = await run_check(forced(check, Outcome.fails("disk full")))
    raised = await run_check(forced(check, Outcome.raises(ConnectionRefusedError("refused"))))
    returned = await run_check(
        forced(check, Outcome.returns(Result("pass", observed_value=3, observed_unit="ms")))
    )

    assert isinstance(passed, CheckReport)
    assert (Status.PASS, None) == (passed.status, passed.output)
    assert (Status.WARN, "replica lag 12s") == (warned.status, warned.output)
    assert (Status.FAIL, "disk full") == (failed.status, failed.output)
    assert raised.error_id is not None
    assert (Status.FAIL, f"ConnectionRefusedError (error id {raised.error_id})") == (
        raised.status,
        raised.output,
    )
    assert (Status.PASS, 3, "ms") == (returned.status, returned.observed_value, returned.observed_unit)


async def test_a_hung_check_is_cut_at_its_own_timeout_in_virtual_time() -> None:
    started, real = anyio.current_time(), time.monotonic()

    report = await run_check(forced(Check("db", Counted(), timeout=2.0), Outcome.hangs()))

    assert (Status.FAIL, "timed out after 2s", True) == (report.status, report.output, report.timed_out)
    assert 2.0 == anyio.current_time() - started
    assert time.monotonic() - real < 1.0


async def test_after_delays_an_outcome_and_the_timeout_still_applies() -> None:
    check = Check("db", Counted(), timeout=0.5)

    slow = await run_check(forced(check, Outcome.passes(after=0.3)))
    too_slow = await run_check(forced(check, Outcome.warns("late", after=0.8)))

    assert (Status.PASS, 0.3) == (slow.status, round(slow.duration, 6))
    assert (Status.FAIL, "timed out after 0.5s") == (too_slow.status, too_slow.output)


async def test_run_check_keeps_exception_text_out_unless_exposed_and_redacts_it() -> None:
    check = forced(Check("db", Counted()), Outcome.raises(ConnectionError(f"token={TOKEN} refused")))

    hidden = await run_check(check)
    exposed = await run_check(check, expose_errors=True)

    assert hidden.output is not None
    assert hidden.output.startswith("ConnectionError (error id ")
    assert exposed.output is not None
    assert exposed.output.startswith("ConnectionError: token=")
    assert "refused (error id " in exposed.output
    assert TOKEN[4:12] not in exposed.output


async def test_run_check_takes_a_check_with_its_own_tags() -> None:
    """A Health refuses a tag no probe selects; run_check makes one that selects it."""
    report = await run_check(Check("db", Counted(), tags={"billing"}))

    assert Status.PASS is report.status


async def test_run_check_calls_a_background_check_directly() -> None:
    fn = Counted(Status.WARN, "slow")

    report = await run_check(Check("billing", fn, refresh_every=30, initial_delay=5))

    assert (Status.WARN, "slow", 1) == (report.status, report.output, fn.calls)


async def test_run_check_starts_damping_afresh() -> None:
    check = forced(Check("search", Counted(), failure_threshold=3), Outcome.fails("down"))

    first = await run_check(check)
    again = await run_check(check)

    assert Status.WARN is first.status
    assert Status.WARN is again.status
    assert first.output is not None
    assert first.output.startswith("down; failed 1 in a row")


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])  # real time: the check runs in a thread
async def test_run_check_runs_a_plain_function_check() -> None:
    def schema() -> Result:
        return Result("warn", output="2 migrations pending")

    report = await run_check(Check("schema", schema))

    assert (Status.WARN, "2 migrations pending") == (report.status, report.output)


async def test_run_check_refuses_what_is_not_a_check() -> None:
    with pytest.raises(TypeError, match="run_check takes a Check, got"):
        await run_check(Counted())  # type: ignore[arg-type]


# --- Forced and forced ---


async def test_forced_replaces_only_the_function() -> None:
    check = Check(
        "db", Counted(), timeout=0.25, critical=False, tags={"ready"}, cache_ttl=3, component_type="datastore"
    )
    fn = Forced(Outcome.fails("down"))

    replaced = forced(check, fn)

    assert fn is replaced.fn
    assert replaced.is_async
    assert dataclasses.replace(replaced, fn=check.fn) == check


async def test_a_forced_outcome_can_change_between_runs_and_calls_are_counted() -> None:
    fn = Forced()
    health = Health([Check("db", fn)])

    first = await health.run()
    fn.outcome = Outcome.fails("refused")
    second = await health.run()

    assert (Status.PASS, Status.FAIL) == (first.status, second.status)
    assert 2 == fn.calls


async def test_forced_health_keeps_every_setting_and_the_other_checks() -> None:
    async def deny(request: object) -> bool:
        return False

    db, cache = Counted(), Counted()
    original = Health(
        [Check("db", db), Check("cache", cache, tags={"live"}), Check("boot", Counted(), tags={"startup"})],
        deadline=0.6,
        status_codes={"pass": 200, "warn": 299, "fail": 500},
        service_id="orders",
        version="3",
        release_id="3.1.4",
        description="orders service",
        notes=["a note"],
        links={"about": "https://example.com"},
        cache_control="no-cache",
        max_threads=3,
        cache_ttl=2,
        report=Probe(details="always"),
        liveness=Probe(deadline=0.3),
        readiness=Probe(warn_only={"db"}, period_seconds=20),
        startup=Probe(timeout_seconds=5),
        drain_delay=30,
        redact=[r"secret-\d+"],
        expose_errors=True,
        authorize=bearer_token("a-token-of-sixteen-chars"),
    )

    copy = forced(original, {"db": Outcome.fails("refused")})

    assert copy is not original
    assert dataclasses.replace(original.settings, checks=copy.settings.checks) == copy.settings
    assert cache is copy.checks[1].fn
    assert isinstance(copy.checks[0].fn, Forced)
    assert db is original.checks[0].fn
    assert "fail" == (await copy.run("health")).checks["db"].status
    assert 0 == db.calls


def test_forced_carries_every_setting_health_takes() -> None:
    """A setting added to Settings and to Health must be carried over by forced (_rebuild)."""
    taken = set(inspect.signature(Health).parameters) - {
        "checks",
        "report",
        "liveness",
        "readiness",
        "startup",
    }

    assert {f.name for f in dataclasses.fields(Settings)} - {"checks", "probes"} == taken


async def test_forced_health_refuses_unknown_names() -> None:
    health = Health([Check("db", Counted()), Check("cache", Counted())])

    with pytest.raises(ValueError, match=r"forced: no check named 'dbb'; the checks are: db, cache"):
        forced(health, {"dbb": Outcome.hangs()})


def test_forced_refuses_mismatched_arguments() -> None:
    check = Check("db", Counted())

    with pytest.raises(TypeError, match="forced\\(check, outcome\\) takes an Outcome or a Forced"):
        forced(check, {"db": Outcome.passes()})  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="forced\\(health, outcomes\\) takes a mapping"):
        forced(Health([check]), Outcome.passes())  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="forced takes a Check or a Health"):
        forced("db", Outcome.passes())  # type: ignore[call-overload]


def test_outcomes_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="Outcome after must be a non-negative, finite number of seconds"):
        Outcome.passes(after=-1)
    with pytest.raises(TypeError, match="Outcome error must be an Exception instance"):
        Outcome(error=KeyboardInterrupt())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Outcome result must be a Result or None"):
        Outcome(result="pass")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one of them"):
        Outcome(Result("pass"), hang=True)
    assert isinstance(Outcome.raises(ConnectionError).error, ConnectionError)


async def test_a_raised_exception_gets_a_fresh_traceback_each_call() -> None:
    error = ConnectionError("refused")
    fn = Forced(Outcome.raises(error))

    depths = []
    for _ in range(3):
        with pytest.raises(ConnectionError) as caught:
            await fn()
        depths.append(len(list(_frames(caught.value.__traceback__))))

    assert 1 == len(set(depths))


def _frames(tb: Any) -> Any:
    while tb is not None:
        yield tb
        tb = tb.tb_next


# --- virtual time: caches, background refresh, damping ---


async def test_a_cache_expires_when_virtual_time_passes() -> None:
    fn = Forced()
    health = Health([Check("db", fn, cache_ttl=2)])

    await health.run()
    await anyio.sleep(1.5)
    await health.run()
    cached = fn.calls
    await anyio.sleep(1)
    await health.run()

    assert (1, 2) == (cached, fn.calls)


async def test_background_refresh_runs_on_the_virtual_clock() -> None:
    fn = Forced()
    health = Health([Check("billing", fn, refresh_every=10, refresh_jitter=0)])
    real = time.monotonic()

    async with health.running():
        await anyio.sleep(35)
        report = await health.run()

    assert 4 == fn.calls  # at 0, 10, 20 and 30 s
    assert Status.PASS is report.checks["billing"].status
    assert time.monotonic() - real < 2


async def test_damping_waits_for_failures_to_last_in_virtual_time() -> None:
    fn = Forced(Outcome.fails("down"))
    health = Health([Check("search", fn, failure_threshold=2, max_time_in_error=30)])

    first = await health.run()
    await anyio.sleep(10)
    second = await health.run()
    await anyio.sleep(25)
    third = await health.run()

    assert [Status.WARN, Status.WARN, Status.FAIL] == [
        r.checks["search"].status for r in (first, second, third)
    ]


def test_virtual_time_refuses_an_unknown_backend() -> None:
    with pytest.raises(ValueError, match="virtual_time takes 'asyncio' or 'trio', got 'curio'"):
        virtual_time("curio")  # type: ignore[arg-type]


def test_the_virtual_loop_jumps_to_the_next_timer() -> None:
    async def nap() -> float:
        loop = anyio.current_time()
        await anyio.sleep(3600)
        return anyio.current_time() - loop

    real = time.monotonic()
    slept = anyio.run(nap, backend_options={"loop_factory": VirtualTimeLoop})

    assert 3600 == slept
    assert time.monotonic() - real < 1
