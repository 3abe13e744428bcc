"""health.run(): every endpoint runnable from code, as a typed Report."""

from __future__ import annotations

import dataclasses

import anyio
import orjson
import pytest

from healthkit import Check, CheckReport, Health, Probe, Report, Result, Status, StatusChange
from tests.conftest import document, lifespan, request
from tests.support import Counted


def slow_reply() -> Result:
    return Result("warn", output="replica lag 12s", observed_value=12, observed_unit="s")


async def test_a_report_carries_the_status_the_code_and_each_checks_outcome() -> None:
    async def broken() -> None:
        raise ConnectionError("no route to postgresql://app:hunter2@db/app")

    health = Health(
        [
            Check("db", broken, component_type="datastore"),
            Check("replica", slow_reply, critical=False),
            Check("cache", Counted()),
        ]
    )

    report = await health.run("readyz")

    assert isinstance(report, Report)
    assert (Status.FAIL, 503, None) == (report.status, report.status_code, report.reason)
    assert ["db", "replica", "cache"] == list(report.checks)
    db = report.checks["db"]
    assert isinstance(db, CheckReport)
    assert (Status.FAIL, "datastore", True) == (db.status, db.component_type, db.critical)
    assert db.error_id is not None
    assert f"ConnectionError (error id {db.error_id})" == db.output
    replica = report.checks["replica"]
    assert (Status.WARN, "replica lag 12s", 12, "s") == (
        replica.status,
        replica.output,
        replica.observed_value,
        replica.observed_unit,
    )
    assert not replica.critical
    assert replica.duration >= 0
    assert replica.age is None  # a call made for this run


async def test_the_report_is_frozen() -> None:
    report = await Health([Check("db", Counted())]).run()

    with pytest.raises(dataclasses.FrozenInstanceError):
        report.status = Status.FAIL  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.checks["db"].status = Status.FAIL  # type: ignore[misc]


async def test_to_json_is_what_the_endpoint_sends_at_full_detail() -> None:
    health = Health(
        [Check("replica", slow_reply, cache_ttl=60)], service_id="billing", report=Probe(details="always")
    )

    sent = document(await request(health))  # the call is made and cached
    report = await health.run()

    body = orjson.loads(report.to_json())
    assert body["checks"]["replica"][0]["ageMs"] >= 0
    del body["checks"]["replica"][0]["ageMs"]
    assert sent == body
    assert "billing" == body["serviceId"]


async def test_run_shares_the_cache_and_the_listeners_with_http_probes() -> None:
    check = Counted()
    health = Health([Check("db", check, cache_ttl=60)])
    changes: list[StatusChange] = []
    health.on_change(changes.append)

    await request(health, path="/health")
    report = await health.run("health")

    assert 1 == check.calls
    assert report.checks["db"].age is not None
    assert [("db", Status.PASS)] == [(c.check, c.new) for c in changes if c.check is not None]


async def test_readiness_from_code_keeps_the_lifecycle() -> None:
    health = Health([Check("db", Counted())])
    health.set_ready(False, "maintenance")

    report = await health.run("readyz")
    one = await health.run("readyz", check="db")

    assert (Status.FAIL, 503, "not ready: maintenance", {}) == (
        report.status,
        report.status_code,
        report.reason,
        dict(report.checks),
    )
    assert Status.PASS == one.status  # one check is a diagnostic, without the lifecycle
    assert b"[-]ready failed: not ready: maintenance\nreadyz check failed\n" == report.to_text()


async def test_readiness_reports_starting_until_the_startup_checks_pass() -> None:
    migrated = Counted(Result(Status.FAIL, output="3 migrations pending"))
    health = Health([Check("migrations", migrated, tags={"startup"}), Check("db", Counted())])

    starting = await health.run("readyz")
    migrated.outcome = None
    started = await health.run("readyz")

    assert "starting: waiting for the startup checks to pass" == starting.reason
    assert ["migrations"] == list(starting.checks)
    assert (Status.PASS, None, ["db"]) == (started.status, started.reason, list(started.checks))


async def test_exclusions_and_the_status_code_mapping_of_the_endpoint() -> None:
    health = Health(
        [Check("db", Counted(Result(Status.FAIL))), Check("cache", Counted())],
        readiness=Probe(status_codes={"pass": 200, "warn": 299, "fail": 500}),
    )

    failing = await health.run("readyz")
    without = await health.run("readyz", exclude=["db"])

    assert 500 == failing.status_code
    assert (200, ("db",), ["cache"]) == (without.status_code, without.excluded, list(without.checks))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"endpoint": "ready"},
            "Health.run takes one of 'health', 'livez', 'readyz', 'startupz', got 'ready'",
        ),
        ({"endpoint": "readyz", "check": "nope"}, "readyz has no check named 'nope'; its checks are: db"),
        ({"endpoint": "readyz", "exclude": ["nope"]}, "readyz has no check named 'nope'"),
    ],
)
async def test_run_refuses_what_it_does_not_know(kwargs: dict[str, object], message: str) -> None:
    health = Health([Check("db", Counted())])

    with pytest.raises(ValueError, match=message):
        await health.run(**kwargs)  # type: ignore[arg-type]


async def test_run_works_inside_the_lifespan_too() -> None:
    release = anyio.Event()

    async def waits() -> None:
        await release.wait()

    check = Counted()
    health = Health([Check("db", check), Check("slow", waits, timeout=5)], deadline=0.2)

    async with lifespan(health):
        first = await health.run()
        release.set()

    assert Status.PASS == first.checks["db"].status
    assert "timed out after 0.2s (the probe's deadline)" == first.checks["slow"].output
    assert first.checks["slow"].timed_out
