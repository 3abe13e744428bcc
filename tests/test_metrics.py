"""Metrics and traces: healthkit.prometheus (with a real Prometheus and promtool) and healthkit.otel
(through the real OpenTelemetry SDK). The fields of log records: tests/test_events.py."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx2
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import mark_process_dead
from starlette.applications import Starlette

from healthkit import CallEnded, Check, Health, ProbeAnswered, Result, Status
from healthkit import otel as healthkit_otel
from healthkit import prometheus as healthkit_prometheus
from healthkit.otel import OpenTelemetry
from healthkit.prometheus import PrometheusMetrics
from tests.conftest import lifespan, request
from tests.servers import EXAMPLES, Server, free_port, load_example, missing, serve_demo
from tests.support import Counted

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_EXAMPLES = EXAMPLES / "prometheus"


def app_of(health: Health, *extra: Any) -> Starlette:
    return Starlette(routes=[*health.routes(), *extra], lifespan=health.lifespan)


class Switch:
    """An async check whose outcome the test sets: pass, a warn, or a ConnectionError."""

    def __init__(self) -> None:
        self.status = Status.PASS

    async def __call__(self) -> Result | None:
        if self.status is Status.FAIL:
            raise ConnectionError("refused")
        return Result(Status.WARN, output="slow") if self.status is Status.WARN else None


# --- Prometheus, in process ---


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class Statuses(Protocol):
    def __call__(self, check: str) -> dict[str, float | None]: ...


def prometheus_statuses(registry: CollectorRegistry) -> Statuses:
    def statuses(check: str) -> dict[str, float | None]:
        return {
            s.value: value(registry, "healthkit_check_status", check=check, status=s.value) for s in Status
        }

    return statuses


async def test_the_status_is_a_state_set_that_follows_each_call() -> None:
    switch = Switch()
    health = Health([Check("db", switch)])
    registry = CollectorRegistry()
    health.observe(PrometheusMetrics(registry))
    statuses = prometheus_statuses(registry)

    seen = []
    for status in (Status.PASS, Status.FAIL, Status.WARN, Status.PASS):
        switch.status = status
        await request(health)
        seen.append(statuses("db"))

    assert [
        {"pass": 1, "warn": 0, "fail": 0},
        {"pass": 0, "warn": 0, "fail": 1},
        {"pass": 0, "warn": 1, "fail": 0},
        {"pass": 1, "warn": 0, "fail": 0},
    ] == seen


async def test_calls_are_counted_by_status_and_timed_but_cached_answers_are_not_calls() -> None:
    health = Health([Check("db", Counted(Status.FAIL)), Check("cache", Counted(), cache_ttl=60)])
    registry = CollectorRegistry()
    health.observe(PrometheusMetrics(registry))

    for _ in range(3):
        await request(health)
    await request(health, method="HEAD")

    assert 4 == value(registry, "healthkit_check_calls_total", check="db", status="fail")
    assert 1 == value(registry, "healthkit_check_calls_total", check="cache", status="pass")
    assert value(registry, "healthkit_check_calls_total", check="cache", status="fail") is None
    assert 4 == value(registry, "healthkit_check_duration_seconds_count", check="db")
    assert 1 == value(registry, "healthkit_check_duration_seconds_bucket", check="cache", le="0.001")
    assert 4 == value(registry, "healthkit_probe_requests_total", endpoint="health", code="503")
    assert 4 == value(registry, "healthkit_probe_duration_seconds_count", endpoint="health")
    assert 4 == value(registry, "healthkit_probe_duration_seconds_bucket", endpoint="health", le="5.0")


async def test_probes_are_counted_per_endpoint_and_code() -> None:
    health = Health([Check("db", Counted()), Check("queue", Counted(Status.FAIL))])
    registry = CollectorRegistry()
    health.observe(PrometheusMetrics(registry))
    app = app_of(health)

    async with lifespan(app):
        codes = [
            (await request(app, path=path)).status_code
            for path in ("/livez", "/readyz", "/readyz", "/health", "/readyz/db")
        ]
    health.set_ready(False, "maintenance")
    await request(app, path="/readyz")

    assert [200, 503, 503, 503, 200] == codes
    assert 1 == value(registry, "healthkit_probe_requests_total", endpoint="livez", code="200")
    assert 1 == value(registry, "healthkit_probe_requests_total", endpoint="readyz", code="200")
    assert 3 == value(registry, "healthkit_probe_requests_total", endpoint="readyz", code="503")
    assert 1 == value(registry, "healthkit_probe_requests_total", endpoint="health", code="503")
    assert value(registry, "healthkit_probe_requests_total", endpoint="startupz", code="200") is None


# --- what probes report between calls: both observers ---


class OtelSdk:
    """The real OpenTelemetry SDK, in memory: an observer and what it recorded."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        self.observer = OpenTelemetry(tracer_provider=self.tracer_provider, meter_provider=meter_provider)

    def points(self) -> dict[str, dict[frozenset[tuple[str, Any]], NumberDataPoint | HistogramDataPoint]]:
        """Each metric's data points, by their attributes."""
        found: dict[str, dict[frozenset[tuple[str, Any]], Any]] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, {})
                    for point in metric.data.data_points:
                        points[frozenset((point.attributes or {}).items())] = point
        return found

    def statuses(self, check: str) -> dict[str, float | None]:
        points = self.points().get("healthkit.check.status", {})
        found: dict[str, float | None] = {}
        for status in Status:
            key = frozenset({("healthkit.check.name", check), ("healthkit.check.status", status.value)})
            point = points.get(key)
            found[status.value] = None if point is None else point.value  # type: ignore[union-attr]
        return found

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())


def observer_and_statuses(kind: str) -> tuple[PrometheusMetrics | OpenTelemetry, Statuses]:
    if kind == "prometheus":
        registry = CollectorRegistry()
        return PrometheusMetrics(registry), prometheus_statuses(registry)
    sdk = OtelSdk()
    return sdk.observer, sdk.statuses


@pytest.mark.parametrize("kind", ["prometheus", "otel"])
async def test_the_status_is_what_probes_report_when_a_probes_deadline_comes_before_the_call(
    kind: str,
) -> None:
    gate = anyio.Event()
    ended = anyio.Event()

    async def slow() -> None:
        await gate.wait()

    class Ended:
        def call_ended(self, event: CallEnded) -> None:
            ended.set()

        def probe_answered(self, event: ProbeAnswered) -> None:
            return None

    health = Health([Check("db", slow, timeout=5)], deadline=0.05)
    observer, statuses = observer_and_statuses(kind)
    health.observe(observer)
    health.observe(Ended())
    app = app_of(health)

    async with lifespan(app):
        answer = await request(app, path="/readyz")  # the call goes on past the probe's deadline
        during = statuses("db")
        gate.set()
        with anyio.fail_after(5):
            await ended.wait()
        after = statuses("db")

    assert 503 == answer.status_code
    assert {"pass": 0, "warn": 0, "fail": 1} == during  # timed out, as the probe reported
    assert {"pass": 1, "warn": 0, "fail": 0} == after  # the call itself passed


@pytest.mark.parametrize("kind", ["prometheus", "otel"])
async def test_a_probe_that_began_before_a_call_ended_never_undoes_that_calls_status(kind: str) -> None:
    health = Health([Check("db", Counted(Status.FAIL))])
    failing = await health.run()  # a report in which db fails (no observer yet)
    observer, statuses = observer_and_statuses(kind)

    observer.call_ended(CallEnded("db", Status.PASS, 0.01, None, False, 1))
    observer.probe_answered(ProbeAnswered("health", Status.FAIL, 503, 10.0, failing))  # began 10 s ago
    kept = statuses("db")
    observer.probe_answered(ProbeAnswered("health", Status.FAIL, 503, 0.0, failing))  # began after it
    newer = statuses("db")

    assert {"pass": 1, "warn": 0, "fail": 0} == kept
    assert {"pass": 0, "warn": 0, "fail": 1} == newer


# --- the /metrics route ---


async def test_the_route_serves_the_text_format_and_openmetrics_on_get_only() -> None:
    health = Health([Check("db", Counted())])
    registry = CollectorRegistry()
    metrics = health.observe(PrometheusMetrics(registry))
    app = app_of(health, metrics.route())

    await request(app, path="/health")
    text = await request(app, path="/metrics")
    openmetrics = await request(app, path="/metrics", headers={"accept": "application/openmetrics-text"})
    zipped = await request(app, path="/metrics", headers={"accept-encoding": "gzip"})
    named = await request(app, path="/metrics?name[]=healthkit_check_status")
    post = await request(app, "POST", path="/metrics")

    assert 200 == text.status_code
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'healthkit_check_status{check="db",status="pass"} 1.0' in text.text.splitlines()
    assert 'healthkit_probe_requests_total{code="200",endpoint="health"} 1.0' in text.text.splitlines()
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    assert ("gzip", text.text) == (zipped.headers["content-encoding"], zipped.text)
    assert {"healthkit_check_status"} == {
        line.split("{")[0] for line in named.text.splitlines() if line[0] != "#"
    }
    assert 405 == post.status_code


def test_the_route_path_must_be_a_path() -> None:
    with pytest.raises(ValueError, match="must be a string starting with '/'"):
        PrometheusMetrics(CollectorRegistry()).route("metrics")


def test_both_modules_use_the_same_buckets() -> None:
    assert healthkit_prometheus.BUCKETS == healthkit_otel.BUCKETS


def test_the_buckets_have_a_bound_at_half_the_default_deadline() -> None:
    assert 0.4 in healthkit_prometheus.BUCKETS  # examples/prometheus/alerts.yml: HealthProbeSlow


@pytest.mark.parametrize(
    ("module", "extra"), [("prometheus", "prometheus_client"), ("otel", "opentelemetry")]
)
def test_without_its_library_a_module_names_the_extra_that_installs_it(
    module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, extra, None)  # as if not installed
    monkeypatch.delitem(sys.modules, f"healthkit.{module}")

    with pytest.raises(ImportError, match=rf"pip install 'healthkit-asgi\[{module}\]'"):
        importlib.import_module(f"healthkit.{module}")


WORKER = """
import asyncio, sys
from healthkit import Check, Health, Result, Status
from healthkit.prometheus import PrometheusMetrics

async def db() -> Result:
    return Result(Status(sys.argv[1]), output="as told")

health = Health([Check("db", db)])
health.observe(PrometheusMetrics())  # the default registry
asyncio.run(health.run())
"""


async def test_in_multiprocess_mode_the_route_merges_the_workers_and_forgets_a_dead_ones_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    workers = {
        status: await anyio.open_process([sys.executable, "-c", WORKER, status], env=env, stdout=None)
        for status in ("fail", "pass")
    }
    with anyio.fail_after(30):
        for worker in workers.values():
            assert 0 == await worker.wait()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    app = Starlette(routes=[PrometheusMetrics(CollectorRegistry()).route()])

    merged = (await request(app, path="/metrics")).text.splitlines()
    # gunicorn's child_exit hook does this:
    mark_process_dead(workers["fail"].pid, str(tmp_path))  # type: ignore[no-untyped-call]
    after = (await request(app, path="/metrics")).text.splitlines()

    assert 'healthkit_check_status{check="db",status="fail"} 1.0' in merged  # livemax: some worker fails
    assert 'healthkit_check_status{check="db",status="pass"} 1.0' in merged
    assert 'healthkit_check_calls_total{check="db",status="fail"} 1.0' in merged
    assert 'healthkit_check_status{check="db",status="fail"} 0.0' in after  # the failing worker is gone
    assert 'healthkit_check_calls_total{check="db",status="fail"} 1.0' in after  # counters keep its calls


async def test_the_demo_serves_metrics(tmp_path: Path) -> None:
    demo = load_example(
        "demo.py",
        {"HEALTHKIT_DEMO_DB": str(tmp_path / "demo.sqlite3"), "HEALTHKIT_DEMO_MAIL_PORT": str(free_port())},
    )

    async with lifespan(demo.app):
        await request(demo.app, path="/readyz")
        metrics = await request(demo.app, path="/metrics")

    lines = metrics.text.splitlines()
    assert 200 == metrics.status_code
    assert 'healthkit_check_status{check="sqlite:responseTime",status="pass"} 1.0' in lines
    assert 'healthkit_check_status{check="mail:connections",status="fail"} 1.0' in lines
    assert 'healthkit_probe_requests_total{code="503",endpoint="readyz"} 1.0' in lines  # no upstream here


# --- a real Prometheus and promtool ---


def program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        missing(f"{name} (Debian's prometheus package)")
    return found


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("what", "path"), [("config", "prometheus.yml"), ("rules", "alerts.yml")])
def test_promtool_accepts_the_shipped_examples(what: str, path: str) -> None:
    checked = run([program("promtool"), "check", what, str(PROMETHEUS_EXAMPLES / path)])

    assert 0 == checked.returncode, checked.stdout + checked.stderr


def test_the_shipped_alerts_fire_on_failing_flapping_and_slow_series() -> None:
    tested = run(
        [program("promtool"), "test", "rules", str(ROOT / "tests" / "prometheus" / "alerts_test.yml")]
    )

    assert 0 == tested.returncode, tested.stdout + tested.stderr


@pytest.fixture
def demo_and_prometheus(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The demo under uvicorn and a Prometheus scraping its /metrics every 0.5 s: their URLs."""
    prometheus = program("prometheus")
    demo = serve_demo(
        {"HEALTHKIT_DEMO_DB": str(tmp_path / "demo.sqlite3"), "HEALTHKIT_DEMO_MAIL_PORT": str(free_port())}
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        textwrap.dedent(f"""\
            global:
              scrape_interval: 500ms
              scrape_timeout: 400ms
            scrape_configs:
              - job_name: demo
                static_configs:
                  - targets: ["127.0.0.1:{demo.port}"]
            """)
    )
    port = free_port()
    command = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    try:
        server = Server(command, port)
    except BaseException:
        demo.stop()
        raise
    try:
        yield demo.url, server.url
    finally:
        server.stop()
        demo.stop()


def query(client: httpx2.Client, prometheus: str, promql: str) -> list[str]:
    """The values of an instant query's result, through Prometheus's HTTP API."""
    answer = client.get(f"{prometheus}/api/v1/query", params={"query": promql})
    answer.raise_for_status()
    body = answer.json()
    assert "success" == body["status"], body
    return [sample["value"][1] for sample in body["data"]["result"]]


def until(client: httpx2.Client, demo: str, prometheus: str, promql: str, wanted: list[str]) -> list[str]:
    """Probe the demo (its checks run when probed) and query Prometheus until the query gives
    ``wanted``, for 30 s at most; returns what it gave last."""
    deadline = time.monotonic() + 30
    seen: list[str] = []
    while time.monotonic() < deadline:
        client.get(f"{demo}/health")
        seen = query(client, prometheus, promql)
        if seen == wanted:
            break
        time.sleep(0.2)
    return seen


def test_prometheus_scrapes_a_check_failing_and_recovering(demo_and_prometheus: tuple[str, str]) -> None:
    demo, prometheus = demo_and_prometheus
    failing = 'healthkit_check_status{check="upstream:responseTime", status="fail"}'

    with httpx2.Client(timeout=5) as client:
        passing = until(client, demo, prometheus, f"{failing} == 0", ["0"])
        client.post(f"{demo}/upstream", params={"answer": "500"})
        failed = until(client, demo, prometheus, f"{failing} == 1", ["1"])
        probes = query(
            client, prometheus, 'healthkit_probe_requests_total{endpoint="health", code="503"} > 0'
        )
        calls = query(
            client, prometheus, 'healthkit_check_calls_total{check="upstream:responseTime", status="fail"}'
        )
        client.post(f"{demo}/upstream", params={"answer": "pass"})
        recovered = until(client, demo, prometheus, failing, ["0"])

    assert ["0"] == passing
    assert ["1"] == failed
    assert 1 == len(probes)
    assert 1 == len(calls)
    assert ["0"] == recovered


# --- OpenTelemetry: spans and metric points ---


async def test_a_probe_is_a_span_with_a_child_span_per_call_and_an_event_per_result_served_again() -> None:
    sdk = OtelSdk()
    health = Health([Check("db", Counted(Status.FAIL)), Check("cache", Counted(), cache_ttl=60)])
    health.observe(sdk.observer)

    await request(health)
    sdk.spans.clear()
    await request(health)

    spans = {span.name: span for span in sdk.finished()}
    probe, db = spans["healthkit health"], spans["healthkit check db"]
    assert ["healthkit check db", "healthkit health"] == sorted(spans)  # the cache did no work
    assert probe.parent is None
    assert db.parent is not None
    assert probe.context is not None
    assert db.parent.span_id == probe.context.span_id
    assert {
        "healthkit.probe.endpoint": "health",
        "healthkit.probe.status": "fail",
        "http.response.status_code": 503,
    } == dict(probe.attributes or {})
    assert trace.StatusCode.ERROR == probe.status.status_code
    attributes = dict(db.attributes or {})
    error_id = attributes.pop("healthkit.check.error_id")
    duration = attributes.pop("healthkit.check.duration")
    assert {
        "healthkit.check.name": "db",
        "healthkit.check.status": "fail",
        "healthkit.check.critical": True,
        "healthkit.check.output": f"ConnectionError (error id {error_id})",
    } == attributes
    assert (trace.StatusCode.ERROR, f"ConnectionError (error id {error_id})") == (
        db.status.status_code,
        db.status.description,
    )
    assert isinstance(duration, float)
    assert db.start_time is not None
    assert db.end_time is not None
    assert probe.start_time is not None
    assert probe.end_time is not None
    assert int(duration * 1e9) == db.end_time - db.start_time
    slack = 5_000_000  # ns: the call's start is wall-clock time, the probe's is now less its duration
    assert probe.start_time - slack <= db.start_time <= db.end_time <= probe.end_time + slack
    assert [] == [event for span in spans.values() for event in span.events if event.name == "exception"]
    (served,) = probe.events
    assert "healthkit.check" == served.name
    found = dict(served.attributes or {})
    assert ("cache", "pass") == (found["healthkit.check.name"], found["healthkit.check.status"])
    assert isinstance(found["healthkit.check.age"], float)


async def test_the_probe_span_is_a_child_of_the_span_current_in_the_request() -> None:
    sdk = OtelSdk()
    health = Health([Check("db", Counted())])
    health.observe(sdk.observer)
    tracer = sdk.tracer_provider.get_tracer("server")

    with tracer.start_as_current_span("GET /health") as server:
        await request(health)

    probe = next(span for span in sdk.finished() if span.name == "healthkit health")
    assert probe.parent is not None
    assert server.get_span_context().span_id == probe.parent.span_id
    assert probe.context is not None
    assert server.get_span_context().trace_id == probe.context.trace_id
    assert trace.StatusCode.UNSET == probe.status.status_code


async def test_the_log_says_once_which_trace_holds_each_error_id(caplog: pytest.LogCaptureFixture) -> None:
    sdk = OtelSdk()
    health = Health([Check("db", Counted(Status.FAIL))])
    health.observe(sdk.observer)

    with caplog.at_level(logging.INFO, logger="healthkit"):
        for _ in range(3):
            await request(health)

    linked = [record for record in caplog.records if "is in trace" in record.getMessage()]
    first = next(span for span in sdk.finished() if span.name == "healthkit check db")
    assert first.context is not None
    trace_id = format(first.context.trace_id, "032x")
    error_id = (first.attributes or {})["healthkit.check.error_id"]
    assert isinstance(error_id, str)
    assert 1 == len(linked)  # the same error three times: one line
    assert f"Error id {error_id} of check 'db' is in trace {trace_id}" == linked[0].getMessage()
    assert (trace_id, error_id, "db") == (linked[0].trace_id, linked[0].error_id, linked[0].check)  # type: ignore[attr-defined]
    failed = next(record for record in caplog.records if record.getMessage().startswith("Check 'db' is fail"))
    assert error_id == failed.error_id  # type: ignore[attr-defined]  # the exception's record, same id


async def test_the_otel_metrics_are_recorded_as_specified() -> None:
    sdk = OtelSdk()
    health = Health([Check("db", Counted(Status.FAIL)), Check("cache", Counted(), cache_ttl=60)])
    health.observe(sdk.observer)

    await request(health)
    await request(health)

    points = sdk.points()

    def at(metric: str, **attributes: object) -> Any:
        return points[metric][frozenset(attributes.items())]

    name, status = "healthkit.check.name", "healthkit.check.status"
    assert 2 == at("healthkit.check.calls", **{name: "db", status: "fail"}).value
    assert 1 == at("healthkit.check.calls", **{name: "cache", status: "pass"}).value
    assert 2 == at("healthkit.check.duration", **{name: "db"}).count
    assert list(healthkit_otel.BUCKETS) == list(
        at("healthkit.check.duration", **{name: "db"}).explicit_bounds
    )
    endpoint = {"healthkit.probe.endpoint": "health"}
    assert 2 == at("healthkit.probe.requests", **endpoint, **{"http.response.status_code": 503}).value
    assert 2 == at("healthkit.probe.duration", **endpoint).count
    assert {"pass": 0, "warn": 0, "fail": 1} == sdk.statuses("db")
    assert {"pass": 1, "warn": 0, "fail": 0} == sdk.statuses("cache")


async def test_without_an_sdk_the_otel_observer_is_a_quiet_no_op(caplog: pytest.LogCaptureFixture) -> None:
    health = Health([Check("db", Counted(Status.FAIL))])
    health.observe(OpenTelemetry())  # the global providers: none set up, so the API's no-ops

    with caplog.at_level(logging.DEBUG, logger="healthkit"):
        answer = await request(health)

    assert 503 == answer.status_code
    assert [] == [r for r in caplog.records if "Observer" in r.getMessage() or "trace" in r.getMessage()]
