"""The status page and ?history without a browser: negotiation, headers, escaping, detail rules.

tests/test_browser.py shows the same page to a real Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette

from healthkit import Check, Health, Probe, Result, Status, bearer_token
from healthkit._page import CONTENT_SECURITY_POLICY, prefers_html
from tests.conftest import document, request
from tests.support import Counted

pytestmark = pytest.mark.shipping_defaults

TOKEN = "0123456789abcdef-page"
AUTHORIZED = {"authorization": f"Bearer {TOKEN}"}
CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BROWSER = {"accept": CHROME}
HOSTILE = "<script>document.title='pwned'</script><em title=\"x\">&amp;"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (CHROME, True),
        (FIREFOX, True),
        ("text/html", True),
        ("text/html;q=0.9", True),  # the only thing it takes
        ("TEXT/HTML; charset=utf-8", True),
        ("text/html, application/json", True),  # same q: the first listed
        ("application/xhtml+xml", True),
        ("text/html, text/plain;q=0.5", True),
        ("*/*", False),  # curl, wget, the kubelet
        ("", False),
        ("application/json", False),
        ("application/health+json", False),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0.8, */*", False),
        ("text/html;q=0.8, application/problem+json", False),
        ("text/plain, text/html", False),
        ("text/*, text/html", False),
        ("text/html;q=0", False),
        ("text/html;q=nonsense", False),
        ("text/html;q=2", False),
        ("application/json, */*;q=0.5", False),  # httpie
    ],
)
def test_html_is_chosen_when_the_accept_header_ranks_it_first(accept: str, html: bool) -> None:
    assert html == prefers_html(accept.encode("latin-1"))


async def failing() -> None:
    raise ConnectionRefusedError


async def degraded() -> Result:
    return Result(Status.WARN, output="replica lag 12s", observed_value=12, observed_unit="s")


async def passing() -> Result:
    return Result(Status.PASS, observed_value=2.5, observed_unit="ms")


def cards(page: str) -> list[tuple[str, str]]:
    """(status, name) of each check on the page, in its order."""
    return re.findall(r'<li class="c s-(\w+)"><h2><b class=b>\w+</b><code class=n>([^<]*)</code>', page)


def outputs(page: str) -> list[str]:
    return re.findall(r"<pre>(.*?)</pre>", page, re.S)


def app_for(*checks: Check, **kwargs: Any) -> Starlette:
    defaults = [
        Check("db", passing, component_type="datastore"),
        Check("replica", degraded),
        Check("search", failing, critical=False),
    ]
    health = Health(checks or defaults, service_id="orders", version="3", **kwargs)
    return Starlette(routes=health.routes())


def secured(*checks: Check, **kwargs: Any) -> Starlette:
    return app_for(*checks, authorize=bearer_token(TOKEN), **kwargs)


@pytest.mark.parametrize(
    "accept", ["*/*", "application/json", "application/health+json", "application/xml", "", "text/html;q=0"]
)
async def test_every_other_client_keeps_the_document(accept: str) -> None:
    response = await request(secured(), headers={"accept": accept, **AUTHORIZED})

    assert 200 == response.status_code
    assert "warn" == document(response)["status"]


async def test_plain_text_clients_keep_the_listing() -> None:
    text = await request(secured(), headers={"accept": "text/plain"})
    verbose = await request(secured(), path="/health?verbose", headers=BROWSER)

    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.endswith("health check passed\n")
    assert verbose.text == text.text


async def test_a_browser_gets_the_page_with_the_documents_status_code() -> None:
    passing_page = await request(secured(Check("db", passing)), headers=BROWSER)
    failing_page = await request(secured(Check("db", failing)), headers=BROWSER)
    failing_document = await request(secured(Check("db", failing)))

    assert "text/html; charset=utf-8" == passing_page.headers["content-type"]
    assert passing_page.text.startswith("<!doctype html>")
    assert 200 == passing_page.status_code
    assert 503 == failing_page.status_code == failing_document.status_code
    assert "<title>\u2715 fail" in failing_page.text


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/startupz"])
async def test_the_probes_keep_their_document_for_browsers_too(path: str) -> None:
    health = Health([Check("db", passing, tags={"live", "ready", "startup"})])

    response = await request(Starlette(routes=health.routes()), path=path, headers=BROWSER)

    assert "application/health+json" == response.headers["content-type"]


async def test_the_page_is_locked_down() -> None:
    anonymous = await request(secured(), headers={**BROWSER, "x-request-id": "req-42"})
    authorized = await request(secured(), headers={**BROWSER, **AUTHORIZED})

    for response in (anonymous, authorized):
        headers = response.headers
        assert CONTENT_SECURITY_POLICY == headers["content-security-policy"]
        assert "DENY" == headers["x-frame-options"]
        assert "no-referrer" == headers["referrer-policy"]
        assert "nosniff" == headers["x-content-type-options"]
        assert "Accept, Authorization, Cookie" == headers["vary"]
    assert "req-42" == anonymous.headers["x-request-id"]
    assert "no-store" == anonymous.headers["cache-control"]
    assert "private, no-store" == authorized.headers["cache-control"]


def test_the_policy_forbids_everything_but_its_own_style_sheet() -> None:
    directives = dict(item.split(" ", 1) for item in CONTENT_SECURITY_POLICY.split("; "))

    assert "'none'" == directives["default-src"]
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", directives["style-src"])
    assert "'none'" == directives["frame-ancestors"] == directives["base-uri"] == directives["form-action"]
    assert "script-src" not in directives  # default-src 'none': no script at all


async def test_the_style_sheet_matches_the_hash_the_policy_allows_and_nothing_else_is_loaded() -> None:
    page = (await request(secured(), headers={**BROWSER, **AUTHORIZED})).text
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()

    assert 1 == len(styles)
    assert f"'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    assert "<script" not in page
    assert " style=" not in page
    assert not re.search(r"(src|href)=\"?(https?:)?//", page)  # nothing from elsewhere
    assert "<meta http-equiv=refresh content=5>" in page


async def test_a_page_answered_to_a_cached_setting_keeps_it_unless_details_are_shown() -> None:
    app = secured(cache_control="max-age=5")

    anonymous = await request(app, headers=BROWSER)
    authorized = await request(app, headers={**BROWSER, **AUTHORIZED})

    assert "max-age=5" == anonymous.headers["cache-control"]
    assert "private, no-store" == authorized.headers["cache-control"]


async def test_every_text_on_the_page_is_escaped() -> None:
    async def hostile() -> Result:
        return Result(
            Status.FAIL,
            output=HOSTILE,
            observed_value=HOSTILE,
            observed_unit="<u>",
            affected_endpoints=["/<i>"],
        )

    health = Health(
        [Check("db", hostile, component_type="<ct>", component_id="<cid>", links={"about": "https://x/<l>"})],
        service_id="<svc>",
        description="<desc>",
        version="<v>",
        authorize=bearer_token(TOKEN),
    )
    page = (await request(Starlette(routes=health.routes()), headers={**BROWSER, **AUTHORIZED})).text

    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    for raw in ("<script", "<em", "<u>", "<i>", "<ct>", "<cid>", "<svc>", "<desc>", "<v>", "<l>"):
        assert raw not in page
    for escaped in ("&lt;u&gt;", "&lt;i&gt;", "&lt;ct&gt;", "&lt;cid&gt;", "&lt;svc&gt;", "&lt;desc&gt;"):
        assert escaped in page
    assert "&amp;amp;" in page
    assert '<a href="https' not in page  # links are shown as text, never followed


async def test_an_anonymous_browser_sees_statuses_only() -> None:
    page = (await request(secured(), headers=BROWSER)).text

    assert [("fail", "search"), ("warn", "replica"), ("pass", "db")] == cards(page)
    for detail in ("replica lag", "ConnectionRefusedError", "orders", "version 3", "2.5 ms", "observed"):
        assert detail not in page
    assert "<ol" not in page  # no history
    assert "<pre" not in page
    assert "shown to authorized requests only" in page


async def test_an_authorized_browser_sees_what_the_document_shows() -> None:
    page = (await request(secured(), headers={**BROWSER, **AUTHORIZED})).text

    assert "<p class=name>orders</p>" in page
    assert "version 3" in page
    assert re.fullmatch(r"ConnectionRefusedError \(error id [0-9a-f]{6}\)", outputs(page)[0])
    assert "replica lag 12s" == outputs(page)[1]
    assert "<dt>observed<dd>2.5 ms</div>" in page
    assert "<dt>observed<dd>12 s</div>" in page
    assert "not critical: counts as warn" in page
    assert "<span class=tag>datastore</span>" in page
    assert 3 == page.count("<p class=hl>Status changes</p>")


async def test_details_always_and_never_apply_to_the_page_as_to_the_document() -> None:
    always = (await request(app_for(report=Probe(details="always")), headers=BROWSER)).text
    never = (await request(secured(report=Probe(details="never")), headers={**BROWSER, **AUTHORIZED})).text

    assert "replica lag 12s" in always
    assert "replica lag 12s" not in never


async def test_failing_and_warning_checks_come_first() -> None:
    page = (await request(secured(), headers={**BROWSER, **AUTHORIZED})).text

    assert ["search", "replica", "db"] == [name for _, name in cards(page)]


async def test_head_and_options_answer_the_page_as_get_does() -> None:
    get = await request(secured(), headers=BROWSER)
    head = await request(secured(), method="HEAD", headers=BROWSER)
    options = await request(secured(), method="OPTIONS", headers=BROWSER)

    assert b"" == head.content
    assert get.headers["content-length"] == head.headers["content-length"]
    assert "text/html; charset=utf-8" == head.headers["content-type"] == options.headers["content-type"]
    assert "GET, HEAD, OPTIONS" == options.headers["allow"]


async def test_one_check_gets_a_page_of_its_own() -> None:
    page = (await request(secured(), path="/health/replica", headers={**BROWSER, **AUTHORIZED})).text

    assert [("warn", "replica")] == cards(page)


async def test_the_page_shows_a_checks_status_changes_with_how_long_each_lasted() -> None:
    check = Counted(Status.PASS)
    app = secured(Check("db", check))

    await request(app, headers=AUTHORIZED)
    check.outcome, check.output = Status.FAIL, "connection refused"
    page = (await request(app, headers={**BROWSER, **AUTHORIZED})).text
    items = re.findall(
        r"<li class=s-(\w+)><b class=b>\w+</b><span>[\d:]+</span><span class=mute>([^<]+)</span>", page
    )

    assert ["fail", "pass"] == [status for status, _ in items[:2]]  # the check's, newest first
    assert re.fullmatch(r"for (under 0\.1|\d+\.\d) s so far", items[0][1])
    assert re.fullmatch(r"for (under 0\.1|\d+\.\d) s", items[1][1])
    assert ["fail", "pass"] == [status for status, _ in items[2:]]  # the overall status's
    assert "<code>connection refused</code>" not in page  # the card shows it; its history need not


async def test_history_as_json_for_authorized_clients() -> None:
    check = Counted(Status.PASS)
    app = secured(Check("db", check))

    await request(app)
    check.outcome, check.output = Status.FAIL, "connection refused"
    response = await request(app, path="/health?history", headers=AUTHORIZED)
    body = orjson.loads(response.content)
    changes = body["checks"]["db"]["changes"]

    assert 503 == response.status_code
    assert "application/json" == response.headers["content-type"]
    assert "private, no-store" == response.headers["cache-control"]
    assert "fail" == body["status"] == body["checks"]["db"]["status"]
    assert ["fail", "pass"] == [change["status"] for change in changes]
    assert {"status", "since", "seconds", "output"} == set(changes[0])  # it still holds: no until
    assert "connection refused" == changes[0]["output"]
    assert {"status", "since", "until", "seconds"} == set(changes[1])
    assert changes[1]["until"] == changes[0]["since"]
    assert ["fail", "pass"] == [change["status"] for change in body["changes"]]


async def test_history_without_details_is_statuses_only_with_the_same_status_code() -> None:
    response = await request(secured(), path="/health?history=1", headers=BROWSER)

    assert 200 == response.status_code
    assert {
        "status": "warn",
        "checks": {"db": {"status": "pass"}, "replica": {"status": "warn"}, "search": {"status": "fail"}},
    } == orjson.loads(response.content)


async def test_a_bad_history_value_is_refused_before_any_check_runs() -> None:
    check = Counted()

    refused = await request(secured(Check("db", check)), path="/health?history=maybe")
    off = await request(secured(Check("db", check)), path="/health?history=0")

    assert 400 == refused.status_code
    assert "history takes no value, or one of 1, true, 0, false; got 'maybe'" in refused.text
    assert 1 == check.calls  # the second request's only
    assert "pass" == document(off)["status"]


async def test_history_is_only_on_health() -> None:
    health = Health([Check("db", passing)])

    response = await request(Starlette(routes=health.routes()), path="/readyz?history")

    assert "application/health+json" == response.headers["content-type"]


async def test_the_services_own_fields_are_details_too() -> None:
    app = secured(
        description="Orders API", release_id="3.1.4", notes=["<on call: #orders>"], links={"about": "/d"}
    )

    authorized = (await request(app, headers={**BROWSER, **AUTHORIZED})).text
    anonymous = (await request(app, headers=BROWSER)).text

    assert "<p class=mute>Orders API \u00b7 version 3 \u00b7 release 3.1.4</p>" in authorized
    assert "<p class=mute>&lt;on call: #orders&gt;</p>" in authorized
    assert "<p class=mute>about: /d</p>" in authorized
    for field in ("Orders API", "3.1.4", "on call", "about: /d", "orders"):
        assert field not in anonymous
