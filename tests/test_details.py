"""Detail levels as shipped: statuses only on the probes, details on /health for authorized requests."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from healthkit import Check, Health, Probe, Result, Status, bearer_token
from tests.conftest import document, request

pytestmark = pytest.mark.shipping_defaults

TOKEN = "0123456789abcdef-health"
AUTHORIZED = {"authorization": f"Bearer {TOKEN}"}


async def degraded() -> Result:
    return Result(Status.WARN, output="replica lag 12s", observed_value=12, observed_unit="s")


async def broken() -> None:
    raise ConnectionError


def app_for(**kwargs: Any) -> Starlette:
    health = Health(
        [
            Check("replica", degraded, tags={"live", "ready", "startup"}),
            Check("search", broken, critical=False),
        ],
        version="3",
        service_id="orders",
        **kwargs,
    )
    return Starlette(routes=health.routes())


STATUSES_ONLY = {
    "status": "warn",
    "checks": {"replica": [{"status": "warn"}], "search": [{"status": "fail"}]},
}


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/startupz", "/health"])
async def test_by_default_every_endpoint_answers_with_statuses_only(path: str) -> None:
    response = await request(app_for(), path=path)
    body = document(response)

    assert 200 == response.status_code
    assert set(body) <= {"status", "checks"}
    assert body["checks"]  # every endpoint of this app runs checks: the next line is not vacuous
    assert all(set(items[0]) == {"status"} for items in body["checks"].values())


async def test_with_an_authorizer_health_shows_details_to_authorized_requests_only() -> None:
    app = app_for(authorize=bearer_token(TOKEN))

    authorized = document(await request(app, path="/health", headers=AUTHORIZED))
    anonymous = document(await request(app, path="/health"))
    wrong = document(
        await request(app, path="/health", headers={"authorization": "Bearer not-the-token-at-all"})
    )
    basic = document(await request(app, path="/health", headers={"authorization": f"Basic {TOKEN}"}))
    probe = document(await request(app, path="/readyz", headers=AUTHORIZED))

    assert "3" == authorized["version"]
    assert "replica lag 12s" == authorized["checks"]["replica"][0]["output"]
    assert STATUSES_ONLY == anonymous == wrong == basic == probe


async def test_probes_can_show_details_and_the_report_can_hide_them() -> None:
    app = app_for(
        authorize=bearer_token(TOKEN),
        readiness=Probe(details="always"),
        report=Probe(details="never"),
    )

    ready = document(await request(app, path="/readyz"))
    report = document(await request(app, path="/health", headers=AUTHORIZED))

    assert "replica lag 12s" == ready["checks"]["replica"][0]["output"]
    assert STATUSES_ONLY == report


async def test_the_text_listing_withholds_reasons_without_details() -> None:
    response = await request(app_for(), path="/readyz?verbose")

    assert "[+]replica warn: reason withheld\n[-]search failed: reason withheld\nreadyz check passed\n" == (
        response.text
    )


async def test_lifecycle_reasons_are_withheld_too() -> None:
    health = Health([])
    health.set_ready(False, "migrating the billing schema")

    response = await request(Starlette(routes=health.routes()), path="/readyz")

    assert 503 == response.status_code
    assert {"status": "fail"} == document(response)


async def test_an_async_authorizer_works_and_one_that_raises_shows_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def by_header(request: Request) -> bool:
        return request.headers.get("x-ops") == "yes"

    def raises(request: Request) -> bool:
        raise RuntimeError

    allowed = document(await request(app_for(authorize=by_header), path="/health", headers={"x-ops": "yes"}))
    with caplog.at_level(logging.ERROR, logger="healthkit"):
        failing = await request(app_for(authorize=raises), path="/health")

    assert "version" in allowed
    assert 200 == failing.status_code
    assert STATUSES_ONLY == document(failing)
    assert "The authorizer failed" in caplog.text


async def test_bearer_token_accepts_each_of_several_tokens_for_rotation() -> None:
    old, new = "old-token-0123456789", "new-token-0123456789"
    app = app_for(authorize=bearer_token(old, new))

    for token in (old, new):
        body = document(await request(app, path="/health", headers={"authorization": f"Bearer {token}"}))
        assert "version" in body


@pytest.mark.parametrize("tokens", [(), ("short",), ("ok-token-0123456789", "")])
def test_bearer_token_refuses_missing_or_short_tokens(tokens: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        bearer_token(*tokens)


def test_details_must_be_a_known_level() -> None:
    with pytest.raises(ValueError, match="Probe details must be one of 'never', 'when_authorized', 'always'"):
        Probe(details="sometimes")  # type: ignore[arg-type]


def test_an_authorizer_must_be_callable() -> None:
    with pytest.raises(TypeError, match="authorize must be a callable"):
        Health([], authorize="token")  # type: ignore[arg-type]


def test_without_an_authorizer_the_start_up_log_says_details_are_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="healthkit"):
        Health([])

    assert "health show details only to authorized requests, and no authorizer is configured" in caplog.text


@pytest.mark.parametrize("path", ["/readyz", "/health"])
async def test_detail_levels_never_change_the_status_code(path: str) -> None:
    hidden = await request(app_for(), path=path)
    shown = await request(app_for(authorize=bearer_token(TOKEN)), path=path, headers=AUTHORIZED)

    assert hidden.status_code == shown.status_code


async def test_a_slow_authorizer_never_delays_the_answer_past_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def slow(request: Request) -> bool:
        await anyio.sleep(30)
        return True

    health = Health([Check("replica", degraded)], deadline=0.2, authorize=slow)

    with caplog.at_level(logging.WARNING, logger="healthkit"), anyio.fail_after(2):
        response = await request(Starlette(routes=health.routes()), path="/health", headers=AUTHORIZED)

    assert {"status": "warn", "checks": {"replica": [{"status": "warn"}]}} == document(response)
    assert "The authorizer did not answer within the deadline (0.2s)" in caplog.text


async def test_an_async_authorizer_runs_alongside_the_checks() -> None:
    met = anyio.Event()

    async def check() -> None:
        await met.wait()  # passes only if the authorizer runs meanwhile

    async def authorize(request: Request) -> bool:
        met.set()
        return True

    health = Health([Check("db", check)], authorize=authorize)

    body = document(await request(Starlette(routes=health.routes()), path="/health", headers=AUTHORIZED))

    assert "pass" == body["checks"]["db"][0]["status"]
    assert "time" in body["checks"]["db"][0]  # details shown
