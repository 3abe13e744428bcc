"""Probe endpoints from one registry: selection, per-probe policy, Kubernetes conventions."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from healthkit import Check, Health, Probe, Status
from tests.conftest import document, no_id, probe, request
from tests.support import Counted, app_with


def names(body: dict[str, Any]) -> set[str]:
    return set(body.get("checks", {}))


async def test_one_registry_serves_four_endpoints_selected_by_tags() -> None:
    health = Health(
        [
            Check("loop", Counted(), tags={"live"}),
            Check("postgres", Counted(), external=True),  # untagged: a readiness dependency
            Check("cache", Counted(), tags={"ready"}),
            Check("migrations", Counted(), tags={"startup"}),
        ]
    )
    app = app_with(health)

    # The startup probe first: once startup is complete it answers without running its checks.
    bodies = {
        path: document(await request(app, path=path))
        for path in ("/startupz", "/livez", "/readyz", "/health")
    }

    assert {"loop"} == names(bodies["/livez"])
    assert {"postgres", "cache"} == names(bodies["/readyz"])
    assert {"migrations"} == names(bodies["/startupz"])
    assert {"loop", "postgres", "cache", "migrations"} == names(bodies["/health"])


@pytest.mark.parametrize("path", ["/readyz", "/readyz/", "/livez/", "/health/"])
async def test_paths_answer_with_and_without_a_trailing_slash_never_redirecting(path: str) -> None:
    response = await request(app_with(Health([Check("db", Counted())])), path=path)

    assert 200 == response.status_code
    assert "pass" == document(response)["status"]


async def test_paths_and_selection_are_configurable_per_probe() -> None:
    health = Health(
        [Check("a", Counted(), tags={"core"}), Check("b", Counted()), Check("c", Counted(), tags={"core"})],
        liveness=Probe(path="/healthz/live", tags={"core"}, exclude={"c"}),
        readiness=Probe(path="/ready", include={"a"}, exclude={"b"}),
    )
    app = app_with(health)

    live = document(await request(app, path="/healthz/live"))
    ready = document(await request(app, path="/ready"))

    assert {"a"} == names(live)
    assert {"a"} == names(ready)
    assert 404 == (await request(app, path="/readyz")).status_code


async def test_the_same_check_can_fail_readiness_but_only_degrade_the_report() -> None:
    health = Health(
        [Check("postgres", Counted(Status.FAIL))],
        report=Probe(warn_only={"postgres"}),
    )
    app = app_with(health)

    ready = await request(app, path="/readyz")
    report = await request(app, path="/health")
    live = await request(app, path="/livez")

    assert (503, "fail") == (ready.status_code, document(ready)["status"])
    assert (200, "warn") == (report.status_code, document(report)["status"])
    assert (200, set()) == (live.status_code, names(document(live)))


async def test_each_probe_can_have_its_own_status_codes_and_deadline() -> None:
    release = anyio.Event()

    async def hangs() -> None:
        await release.wait()

    health = Health(
        [Check("db", hangs, timeout=5)],
        deadline=3,
        readiness=Probe(status_codes={"pass": 200, "warn": 200, "fail": 500}, deadline=0.2),
    )

    with anyio.fail_after(2):  # the readiness deadline answers, not the Health's 3 s
        response = await request(app_with(health), path="/readyz")
    release.set()

    assert 500 == response.status_code
    assert "timed out after 0.2s (the probe's deadline)" == document(response)["checks"]["db"][0]["output"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"readiness": Probe(include={"nope"})},
            "readyz include names 'nope', which is not a registered check",
        ),
        ({"liveness": Probe(exclude={"x"})}, "livez exclude names 'x'"),
        ({"report": Probe(warn_only={"y"})}, "health warn_only names 'y'"),
    ],
)
def test_naming_a_check_that_does_not_exist_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Health([Check("db", Counted())], **kwargs)

    assert "the checks are: db" in str(info.value)


@pytest.mark.parametrize("path", ["readyz", "/readyz/", ""])
def test_a_probe_path_must_be_absolute_without_a_trailing_slash(path: str) -> None:
    with pytest.raises(ValueError, match="must start with '/' and not end with one"):
        Probe(path=path)


def test_a_probe_argument_must_be_a_probe() -> None:
    with pytest.raises(TypeError, match="Health readiness must be a Probe"):
        Health([], readiness={"tags": {"ready"}})  # type: ignore[arg-type]


async def test_a_path_with_a_check_name_runs_and_reports_that_check_only() -> None:
    db, cache = Counted(), Counted(Status.FAIL)
    app = app_with(Health([Check("db", db), Check("cache", cache)]))

    response = await request(app, path="/readyz/db")

    assert 200 == response.status_code
    assert {"db"} == names(document(response))
    assert (1, 0) == (db.calls, cache.calls)


async def test_an_unknown_check_name_in_the_path_is_404_saying_what_exists_and_runs_nothing() -> None:
    db = Counted()
    app = app_with(Health([Check("db", db), Check("cache", Counted())]))

    response = await request(app, path="/readyz/postgres")

    assert 404 == response.status_code
    assert "readyz has no check named 'postgres'; its checks are: db, cache" == response.text.strip()
    assert 0 == db.calls


async def test_exclude_leaves_checks_out_and_the_listing_says_so() -> None:
    db, cache = Counted(), Counted(Status.FAIL)
    app = app_with(Health([Check("db", db), Check("cache", cache)]))

    response = await request(app, path="/readyz?exclude=cache&verbose")

    assert 200 == response.status_code
    assert "[+]db ok\n[+]cache excluded: ok\nreadyz check passed\n" == response.text
    assert 0 == cache.calls


async def test_an_unknown_name_in_exclude_is_400_saying_what_exists_and_runs_nothing() -> None:
    db = Counted()
    app = app_with(Health([Check("db", db)]))

    response = await request(app, path="/readyz?exclude=db&exclude=redis")

    assert 400 == response.status_code
    assert "cannot exclude 'redis': not in readyz; its checks are: db" == response.text.strip()
    assert 0 == db.calls


@pytest.mark.parametrize(("path", "accept"), [("/readyz?verbose", "*/*"), ("/readyz", "text/plain")])
async def test_verbose_or_accept_text_plain_gives_the_plain_text_listing(path: str, accept: str) -> None:
    health = Health(
        [
            Check("postgres", Counted()),
            Check("replica", Counted(Status.WARN, "lag 12s")),
            Check("redis", Counted(Status.FAIL)),
        ]
    )

    response = await request(app_with(health), path=path, headers={"accept": accept})

    assert 503 == response.status_code
    assert "text/plain; charset=utf-8" == response.headers["content-type"]
    assert (
        "[+]postgres ok\n[+]replica warn: lag 12s\n[-]redis failed: ConnectionError\nreadyz check failed\n"
        == no_id(response.text)
    )


async def test_startup_gates_readiness_until_the_startup_checks_pass_once() -> None:
    migrations = Counted(Status.FAIL)
    db = Counted()
    health = Health([Check("migrations", migrations, tags={"startup"}), Check("db", db)])
    app = app_with(health)

    starting = await request(app, path="/startupz")
    not_ready = await request(app, path="/readyz")
    db_calls_while_starting = db.calls
    live = await request(app, path="/livez")
    migrations.outcome = Status.PASS
    started = await request(app, path="/startupz")
    ready = await request(app, path="/readyz")
    calls_after_start = migrations.calls
    again = await request(app, path="/startupz")
    await request(app, path="/readyz")

    assert 503 == starting.status_code
    assert 503 == not_ready.status_code
    assert "starting: waiting for the startup checks to pass" == document(not_ready)["output"]
    assert 0 == db_calls_while_starting  # readiness runs none of its checks before startup completes
    assert 200 == live.status_code
    assert 200 == started.status_code
    assert 200 == ready.status_code
    assert 200 == again.status_code
    assert {"status": "pass"} == document(again)
    assert calls_after_start == migrations.calls  # startup checks stop running once they pass


async def test_marking_not_ready_fails_readiness_with_the_reason_but_not_liveness() -> None:
    health = Health([Check("db", Counted())])
    app = app_with(health)

    health.set_ready(False, "maintenance window")
    ready = await request(app, path="/readyz")
    text = await request(app, path="/readyz?verbose")
    live = await request(app, path="/livez")
    health.set_ready(True)
    back = await request(app, path="/readyz")

    assert 503 == ready.status_code
    assert "not ready: maintenance window" == document(ready)["output"]
    assert "[-]ready failed: not ready: maintenance window\nreadyz check failed\n" == text.text
    assert 200 == live.status_code
    assert 200 == back.status_code


def test_set_ready_refuses_a_non_boolean() -> None:
    with pytest.raises(TypeError, match="set_ready takes True or False"):
        Health([]).set_ready("no")  # type: ignore[arg-type]


def test_risky_setups_are_logged_when_the_probes_are_mounted(caplog: pytest.LogCaptureFixture) -> None:
    health = Health(
        [Check("postgres", Counted(), external=True, tags={"live", "ready"})],
        readiness=Probe(deadline=1.0, timeout_seconds=1.0, period_seconds=10),
        drain_delay=5,
    )
    with caplog.at_level(logging.WARNING, logger="healthkit"):
        health.routes()

    text = caplog.text
    assert "Check 'postgres' checks an external dependency but is in the liveness probe" in text
    assert "readyz deadline 1.0s is not shorter than its kubelet timeoutSeconds 1.0s" in text
    assert "drain_delay 5s is shorter than the readiness periodSeconds 10s" in text


def test_a_sound_setup_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="healthkit"):
        Health(
            [Check("postgres", Counted(), external=True), Check("loop", Counted(), tags={"live"})],
            drain_delay=15,
        ).routes()

    assert [] == caplog.records


def test_probes_that_are_not_mounted_are_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="healthkit"):
        # Served only as Route("/health", health): the probes' kubelet timeouts do not apply.
        Health([Check("postgres", Counted(), external=True, tags={"live"})], deadline=5)

    assert [] == caplog.records


def test_a_background_check_longer_than_the_deadline_is_not_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="healthkit"):
        # Probes read its latest result: its timeout never bounds a probe.
        Health([Check("billing", Counted(), refresh_every=15, timeout=2)]).routes()

    assert [] == caplog.records


async def test_exclude_never_hides_the_lifecycle_but_one_check_is_a_diagnostic() -> None:
    health = Health([Check("db", Counted()), Check("cache", Counted())])
    app = app_with(health)
    health.set_ready(False, "maintenance")

    excluded = await request(app, path="/readyz?exclude=cache")
    one = await request(app, path="/readyz/db")

    assert 503 == excluded.status_code
    assert 200 == one.status_code


async def test_a_check_excluded_twice_is_listed_once() -> None:
    app = app_with(Health([Check("db", Counted()), Check("cache", Counted())]))

    response = await request(app, path="/readyz?exclude=db&exclude=db&verbose")

    assert 1 == response.text.count("[+]db excluded: ok")


def test_a_probe_cannot_take_the_root_path() -> None:
    with pytest.raises(ValueError, match="not '/'"):
        Probe(path="/")


async def test_routes_root_serves_readiness_at_the_root_for_haproxys_default_check() -> None:
    health = Health([Check("db", Counted()), Check("loop", Counted(Status.FAIL), tags={"live"})])
    app = Starlette(routes=health.routes(root=True))

    # HAProxy's bare `option httpchk`: OPTIONS / with no headers at all (no Host).
    options = await probe(app, "OPTIONS", "/")
    got, head = await request(app, path="/"), await request(app, "HEAD", "/")
    health.set_ready(False, "maintenance")
    maintenance = await probe(app, "OPTIONS", "/")
    health.set_ready(True)
    back = await request(app, "OPTIONS", "/")

    assert (200, {"db"}) == (options[0], names(options[1]))  # readiness, not the failing report
    assert {"db"} == names(document(got))
    assert (200, b"") == (head.status_code, head.content)
    assert (503, "not ready: maintenance") == (maintenance[0], maintenance[1]["output"])
    assert 200 == back.status_code
    assert "GET, HEAD, OPTIONS" == back.headers["allow"]


async def test_without_root_the_root_path_is_not_found() -> None:
    app = app_with(Health([Check("db", Counted())]))

    response = await request(app, "OPTIONS", "/")

    assert 404 == response.status_code  # why a bare `option httpchk` keeps the server DOWN


def test_routes_root_adds_one_named_route_and_no_check_sub_route() -> None:
    health = Health([Check("db", Counted())], readiness=Probe(path="/ready"))
    plain, rooted = health.routes(), health.routes(root=True)
    added = [route for route in rooted if isinstance(route, Route) and route.path == "/"]

    assert len(plain) + 1 == len(rooted)
    assert 1 == len(added)
    assert ("readyz-root", {"GET", "HEAD", "OPTIONS"}) == (added[0].name, added[0].methods)
    assert "/" == Starlette(routes=rooted).url_path_for("readyz-root")


@pytest.mark.parametrize("root", ["yes", 1, None])
def test_routes_root_must_be_true_or_false(root: Any) -> None:
    with pytest.raises(TypeError, match=r"Health.routes root must be True or False, got "):
        Health([]).routes(root=root)


async def homepage(request: Request) -> PlainTextResponse:
    return PlainTextResponse("welcome\n")


async def test_an_apps_own_homepage_listed_first_keeps_get_while_options_reaches_readiness() -> None:
    health = Health([Check("db", Counted())])
    app = Starlette(routes=[Route("/", homepage), *health.routes(root=True)])

    health.set_ready(False, "maintenance")
    page, head = await request(app, path="/"), await request(app, "HEAD", "/")
    options = await request(app, "OPTIONS", "/")
    post = await request(app, "POST", "/")
    health.set_ready(True)
    ready = await request(app, "OPTIONS", "/")

    assert (200, "welcome\n") == (page.status_code, page.text)
    assert (200, "text/plain; charset=utf-8") == (head.status_code, head.headers["content-type"])
    assert (503, "not ready: maintenance") == (options.status_code, document(options)["output"])
    assert 405 == post.status_code
    assert (200, "pass") == (ready.status_code, document(ready)["status"])


async def test_a_homepage_listed_after_the_root_route_loses_get_to_readiness() -> None:
    health = Health([Check("db", Counted())])
    app = Starlette(routes=[*health.routes(root=True), Route("/", homepage)])

    page = await request(app, path="/")

    assert "application/health+json" == page.headers["content-type"]  # list your own "/" first
