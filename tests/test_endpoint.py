"""The HTTP side: status mapping, methods, headers, content negotiation, mounting."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from healthkit import Check, Health, Result, Status
from healthkit._endpoint import DEFAULT_STATUS_CODES, Responder
from tests.conftest import app_for, document, request


def health_with(status: Status | None, **kwargs: Any) -> Health:
    async def check() -> Result | None:
        return None if status is None else Result(status, output="reason")

    return Health([Check("dep", check)], **kwargs)


@pytest.mark.parametrize(("status", "code"), [(Status.PASS, 200), (Status.WARN, 200), (Status.FAIL, 503)])
async def test_default_mapping_keeps_pass_and_warn_in_rotation(status: Status, code: int) -> None:
    response = await request(health_with(status))

    assert code == response.status_code
    assert status.value == document(response)["status"]


async def test_mapping_is_settable_per_health() -> None:
    codes = {"pass": 200, "warn": 207, "fail": 500}

    warn = await request(health_with(Status.WARN, status_codes=codes))
    fail = await request(health_with(Status.FAIL, status_codes=codes))

    assert 207 == warn.status_code
    assert 500 == fail.status_code


def test_mapping_accepts_the_drafts_aliases_as_keys() -> None:
    health = health_with(None, status_codes={"UP": 203, "warn": 299, "down": 429})

    assert {Status.PASS: 203, Status.WARN: 299, Status.FAIL: 429} == health.status_codes


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ({"pass": 200, "warn": 503, "fail": 503}, "maps 'warn' to 503, but the health\\+json draft requires"),
        ({"pass": 404, "warn": 200, "fail": 503}, "maps 'pass' to 404, but the health\\+json draft requires"),
        ({"pass": 200, "warn": 200, "fail": 200}, "maps 'fail' to 200, but the health\\+json draft requires"),
        ({"pass": 200, "warn": 200, "fail": 600}, "maps 'fail' to 600"),
        ({"pass": 200, "warn": 200}, "leaves fail unmapped"),
        ({"pass": 200, "fail": 503}, "leaves warn unmapped"),
        ({"pass": 200, "warn": 200, "fail": 503, "degraded": 200}, "has the key 'degraded'"),
        ({"pass": 200, "up": 200, "warn": 200, "fail": 503}, "maps 'pass' twice"),
        ({"pass": 204, "warn": 200, "fail": 503}, "maps 'pass' to 204, which has no body"),
        ({"pass": 200, "warn": 205, "fail": 503}, "maps 'warn' to 205, which has no body"),
        ({"pass": 304, "warn": 200, "fail": 503}, "maps 'pass' to 304, which has no body"),
    ],
)
def test_mappings_that_break_the_draft_are_refused(codes: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        health_with(None, status_codes=codes)


@pytest.mark.parametrize("code", [True, "503", 503.0])
def test_mapping_codes_must_be_ints(code: object) -> None:
    with pytest.raises(TypeError, match="must be an int HTTP status code"):
        health_with(None, status_codes={"pass": 200, "warn": 200, "fail": code})


async def test_head_has_the_same_status_and_headers_and_no_body() -> None:
    health = health_with(Status.FAIL)

    get = await request(health, "GET")
    head = await request(health, "HEAD")

    assert 503 == head.status_code
    assert b"" == head.content
    # Each request runs the checks, so durations (and the length) may differ by a digit.
    assert {**get.headers, "content-length": "-"} == {**head.headers, "content-length": "-"}
    assert abs(len(get.content) - int(head.headers["content-length"])) <= 3


async def test_head_announces_the_length_of_the_body_it_leaves_out() -> None:
    responder = Responder(DEFAULT_STATUS_CODES, cache_control="no-store")
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await responder.health("HEAD", Status.WARN, b'{"status":"warn"}', send)
    start, body = sent

    assert 200 == start["status"]
    assert b"17" == dict(start["headers"])[b"content-length"]
    assert b"" == body["body"]


async def test_options_answers_with_the_health_status_for_haproxy() -> None:
    passing = await request(health_with(None), "OPTIONS")
    failing = await request(health_with(Status.FAIL), "OPTIONS")

    assert 200 == passing.status_code
    assert 503 == failing.status_code
    assert "GET, HEAD, OPTIONS" == failing.headers["allow"]
    assert "fail" == document(failing)["status"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "TRACE"])
async def test_other_methods_get_405_with_allow_and_run_no_check(method: str) -> None:
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1

    response = await request(Health([Check("dep", counted)]), method)

    assert 405 == response.status_code
    assert "GET, HEAD, OPTIONS" == response.headers["allow"]
    assert "GET, HEAD and OPTIONS" in response.text
    assert 0 == calls


async def test_cache_control_is_no_store_by_default_and_settable() -> None:
    default = await request(health_with(None))
    custom = await request(health_with(None, cache_control="max-age=2"))
    none = await request(health_with(None, cache_control=None))

    assert "no-store" == default.headers["cache-control"]
    assert "max-age=2" == custom.headers["cache-control"]
    assert "cache-control" not in none.headers


@pytest.mark.parametrize(
    "accept",
    [
        "*/*",
        "application/json",
        "application/xml",
        "text/html;q=0.9, application/json",
        "text/plain, application/json",
        "",
    ],
)
async def test_any_accept_header_gets_an_answer_never_406(accept: str) -> None:
    response = await request(health_with(None), headers={"accept": accept})

    assert 200 == response.status_code
    assert "pass" == document(response)["status"]


async def test_query_strings_do_not_change_which_route_matches() -> None:
    response = await request(health_with(Status.WARN), path="/health?format=xml&page=2&%ff")

    assert 200 == response.status_code
    assert "warn" == document(response)["status"]


async def test_mounts_in_fastapi() -> None:
    app = FastAPI()
    app.router.routes.append(Route("/health", health_with(Status.FAIL)))

    response = await request(app)

    assert 503 == response.status_code
    assert "fail" == document(response)["status"]


async def test_mounts_alongside_other_starlette_routes() -> None:
    app = app_for(health_with(None), path="/internal/health")

    response = await request(app, path="/internal/health")
    missing = await request(app, path="/health")

    assert 200 == response.status_code
    assert 404 == missing.status_code


async def test_serves_as_a_whole_asgi_app_including_lifespan() -> None:
    health = health_with(None)
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await health({"type": "lifespan"}, receive, send)
    assert [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}] == sent
    sent.clear()

    await health({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)

    assert 200 == sent[0]["status"]
    assert "pass" == orjson.loads(sent[1]["body"])["status"]
