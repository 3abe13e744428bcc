"""The application/health+json document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio

from healthkit import Check, Health, Result, Status
from tests.conftest import document, no_id, request


async def passing() -> None:
    return None


async def degraded() -> Result:
    return Result(
        Status.WARN,
        output="1200 messages waiting",
        observed_value=1200,
        observed_unit="messages",
        affected_endpoints=["/orders/{id}"],
    )


async def failing() -> None:
    raise OSError


async def test_the_document_carries_configured_fields_with_status_first() -> None:
    health = Health(
        [Check("db", passing)],
        service_id="billing",
        version="3",
        release_id="3.1.4",
        description="billing API",
        notes=["blue deployment"],
        links={"about": "https://example.test/billing"},
    )

    body = document(await request(health))

    assert [
        "status",
        "version",
        "releaseId",
        "notes",
        "serviceId",
        "description",
        "checks",
        "links",
    ] == list(body)
    assert "3" == body["version"]
    assert "3.1.4" == body["releaseId"]
    assert "billing" == body["serviceId"]
    assert "billing API" == body["description"]
    assert ["blue deployment"] == body["notes"]
    assert {"about": "https://example.test/billing"} == body["links"]


async def test_unconfigured_fields_are_left_out() -> None:
    body = document(await request(Health([Check("db", passing)])))

    assert ["status", "checks"] == list(body)


async def test_no_checks_is_pass_without_a_checks_object() -> None:
    response = await request(Health())

    assert 200 == response.status_code
    assert {"status": "pass"} == document(response)


async def test_each_check_is_a_one_element_array_of_draft_fields() -> None:
    health = Health(
        [
            Check(
                "broker:queueDepth",
                degraded,
                component_type="component",
                component_id="rabbit-1",
                links={"runbook": "https://example.test/runbooks/broker"},
            )
        ]
    )

    before = datetime.now(UTC)
    body = document(await request(health))
    [item] = body["checks"]["broker:queueDepth"]

    assert [
        "componentId",
        "componentType",
        "observedValue",
        "observedUnit",
        "status",
        "affectedEndpoints",
        "output",
        "time",
        "durationMs",
        "links",
    ] == list(item)
    assert "rabbit-1" == item["componentId"]
    assert "component" == item["componentType"]
    assert 1200 == item["observedValue"]
    assert "messages" == item["observedUnit"]
    assert "warn" == item["status"]
    assert ["/orders/{id}"] == item["affectedEndpoints"]
    assert "1200 messages waiting" == item["output"]
    assert {"runbook": "https://example.test/runbooks/broker"} == item["links"]
    recorded = datetime.fromisoformat(item["time"])
    assert timedelta(0) == recorded.utcoffset()
    assert before - timedelta(seconds=1) <= recorded <= datetime.now(UTC)


async def test_output_and_affected_endpoints_are_omitted_on_pass() -> None:
    async def chatty() -> Result:
        return Result(Status.PASS, output="all good", affected_endpoints=["/x"], observed_value=3)

    body = document(await request(Health([Check("db", chatty)])))
    [item] = body["checks"]["db"]

    assert "output" not in item
    assert "affectedEndpoints" not in item
    assert 3 == item["observedValue"]


async def test_duration_is_measured() -> None:
    async def slow() -> None:
        await anyio.sleep(0.05)

    body = document(await request(Health([Check("slow", slow), Check("fast", passing)])))

    assert body["checks"]["slow"][0]["durationMs"] >= 50
    assert body["checks"]["fast"][0]["durationMs"] < 50


async def test_aggregate_is_worst_of() -> None:
    health = Health([Check("a", passing), Check("b", degraded), Check("c", failing)])

    response = await request(health)

    assert 503 == response.status_code
    assert "fail" == document(response)["status"]


async def test_a_non_critical_failure_only_degrades_to_warn() -> None:
    health = Health([Check("db", passing), Check("schema", failing, critical=False)])

    response = await request(health)
    body = document(response)

    assert 200 == response.status_code
    assert "warn" == body["status"]
    assert "fail" == body["checks"]["schema"][0]["status"]
    assert "OSError" == no_id(body["checks"]["schema"][0]["output"])


async def test_a_critical_failure_beats_a_non_critical_one() -> None:
    health = Health([Check("db", failing), Check("schema", failing, critical=False)])

    assert "fail" == document(await request(health))["status"]
