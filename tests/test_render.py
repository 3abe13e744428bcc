"""The document as bytes: made from pieces serialized once, it is the document serialized whole;
statuses-only answers are made once and follow every change."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson

from healthkit import Check, CheckReport, Health, Probe, Report, Result, Status
from healthkit._render import Document
from tests.conftest import document, request
from tests.support import Counted

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def whole(report: Report, head: dict[str, Any], links: dict[str, str] | None) -> bytes:
    """The document built as one mapping and serialized at once: what the pieces must add up to."""
    built: dict[str, Any] = {"status": report.status, **head}
    if report.reason is not None and report.status is not Status.PASS:
        built["output"] = report.reason
    checks = {}
    for name, item in report.checks.items():
        part: dict[str, Any] = {}
        if item.component_id is not None:
            part["componentId"] = item.component_id
        if item.component_type is not None:
            part["componentType"] = item.component_type
        if item.observed_value is not None:
            part["observedValue"] = item.observed_value
            if item.observed_unit is not None:
                part["observedUnit"] = item.observed_unit
        part["status"] = item.status
        if item.status is not Status.PASS:
            if item.affected_endpoints:
                part["affectedEndpoints"] = list(item.affected_endpoints)
            if item.output is not None:
                part["output"] = item.output
        part["time"] = item.time
        part["durationMs"] = round(item.duration * 1000, 3)
        if item.age is not None:
            part["ageMs"] = round(item.age * 1e6) / 1000  # ms to the µs
        if item.links:
            part["links"] = item.links
        checks[name] = [part]
    if checks:
        built["checks"] = checks
    if links:
        built["links"] = links
    return orjson.dumps(built, option=_OPTIONS)


async def passing() -> None:
    return None


async def degraded() -> Result:
    return Result(
        Status.WARN,
        output='lag "high"\n\u00e9\u2603\U0001f600 \\ </script>',
        observed_value={"lag": 1.5, "queues": ["a", "b"], "note": "\u00e9"},
        observed_unit="s",
        affected_endpoints=["/orders/{id}", "/pay"],
    )


async def failing() -> None:
    raise OSError


HEAD: dict[str, Any] = {
    "version": "3",
    "releaseId": "3.1.4",
    "notes": ['blue "deployment"', "\u00e9"],
    "serviceId": "billing",
    "description": "billing API",
}
LINKS = {"about": "https://example.test/billing", 'x"y': "\u2603"}


def health() -> Health:
    return Health(
        [
            Check(
                "db:responseTime",
                passing,
                component_id="primary",
                component_type="datastore",
                links={"self": "https://example.test/db"},
            ),
            Check("queue", degraded, critical=False, component_type="component"),
            Check('odd "name" \u2603', failing, critical=False),
        ],
        cache_ttl=60,
        version="3",
        release_id="3.1.4",
        notes=['blue "deployment"', "\u00e9"],
        service_id="billing",
        description="billing API",
        links=LINKS,
        report=Probe(details="always"),
    )


async def test_fresh_and_cached_documents_are_the_document_serialized_whole() -> None:
    served = health()
    async with served.running():
        fresh = await served.run()
        cached = await served.run()  # every check served again, with its age
        again = await served.run()

    assert whole(fresh, HEAD, LINKS) == fresh.to_json()
    assert whole(cached, HEAD, LINKS) == cached.to_json()
    assert whole(again, HEAD, LINKS) == again.to_json()
    assert all(item.age is not None for item in cached.checks.values())


async def test_a_readiness_reason_and_no_checks_are_the_document_serialized_whole() -> None:
    served = health()
    served.set_ready(False, 'maintenance "window" \u2603')
    report = await served.run("readyz")

    assert "not ready" in (report.reason or "")
    assert whole(report, HEAD, LINKS) == report.to_json()


def test_a_report_made_with_its_age_has_it_once() -> None:
    """A stale background result is a report of its own with ``age`` set, not a call's served again."""
    check = Check("feed", passing, refresh_every=5)
    stale = CheckReport(check, Status.FAIL, datetime(2026, 1, 2, tzinfo=UTC), 0.25, "too old", age=12.5)
    renderer = Document(
        version=None, release_id=None, service_id=None, description=None, notes=(), links=None
    )
    report = Report("readyz", Status.FAIL, 503, {"feed": stale}, _renderer=renderer)

    body = report.to_json()

    assert 1 == body.count(b'"ageMs"')
    assert whole(report, {}, None) == body


def test_a_result_served_again_beside_a_report_made_with_its_age() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    fresh = CheckReport(
        Check("db", passing, links={"self": "https://example.test/db"}), Status.PASS, when, 0.0123
    )
    served = fresh.aged(2.5)
    stale = CheckReport(Check("feed", passing, refresh_every=5), Status.FAIL, when, 0.25, "too old", age=12.5)
    renderer = Document(
        version="3", release_id=None, service_id=None, description=None, notes=(), links=LINKS
    )
    report = Report("readyz", Status.FAIL, 503, {"db": served, "feed": stale}, _renderer=renderer)

    body = report.to_json()

    assert 2 == body.count(b'"ageMs"')
    assert whole(report, {"version": "3"}, LINKS) == body


async def test_an_answer_changed_in_place_by_a_middleware_leaves_the_next_one_as_it_was() -> None:
    """Middlewares (GZip, CORS) may edit the header list they are sent: each answer gets its own."""
    served = Health([Check("db", passing)], cache_ttl=60, report=Probe(details="never"))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def edited(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"].append((b"x-added", b"1"))
            await send(message)

        await served(scope, receive, edited)

    first = await request(app)
    second = await request(app)

    assert ["1"] == first.headers.get_list("x-added")
    assert ["1"] == second.headers.get_list("x-added")
    assert first.content == second.content


async def test_statuses_only_answers_follow_each_change_and_each_subset() -> None:
    flaky = Counted(Status.FAIL, "down")
    served = Health(
        [Check("db", passing), Check("cache", flaky)], report=Probe(details="never")
    )  # no cache: each probe calls the checks

    failing_all = await request(served)
    failing_subset = await request(served, path="/health?exclude=db")
    passing_subset = await request(served, path="/health?exclude=cache")
    flaky.outcome = Status.PASS
    passing_all = await request(served)
    flaky.outcome = Status.FAIL
    failing_again = await request(served)

    assert (503, {"db": "pass", "cache": "fail"}) == statuses(failing_all)
    assert (503, {"cache": "fail"}) == statuses(failing_subset)
    assert (200, {"db": "pass"}) == statuses(passing_subset)
    assert (200, {"db": "pass", "cache": "pass"}) == statuses(passing_all)
    assert (503, {"db": "pass", "cache": "fail"}) == statuses(failing_again)
    assert str(len(passing_all.content)) == passing_all.headers["content-length"]


def statuses(response: Any) -> tuple[int, dict[str, str]]:
    body = document(response)
    return response.status_code, {name: items[0]["status"] for name, items in body["checks"].items()}
