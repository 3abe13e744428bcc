"""Prometheus metrics for healthkit: an observer and the ``/metrics`` route that serves them.

```python
metrics = health.observe(PrometheusMetrics())
app = Starlette(routes=[*health.routes(), metrics.route()], lifespan=health.lifespan)
```

Needs prometheus-client: ``pip install 'healthkit-asgi[prometheus]'``.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Sequence
from typing import Literal

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector
except ImportError as exc:  # pragma: no cover - tested in a plain install (.ci/run)
    msg = "healthkit.prometheus needs prometheus-client: pip install 'healthkit-asgi[prometheus]'"
    raise ImportError(msg) from exc

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._observe import CallEnded, ProbeAnswered
from ._status import Status

__all__ = ["BUCKETS", "GaugeMode", "PrometheusMetrics"]

#: Histogram buckets in seconds: fine below 0.1 s, where healthy checks answer, with bounds at
#: 0.4 s (half the default deadline), 0.5 s (the default timeout) and 0.8 s (the default deadline).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.4, 0.5, 0.8, 1.0, 2.5, 5.0)

#: How prometheus-client's multiprocess mode merges a gauge of several worker processes.
GaugeMode = Literal[
    "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent"
]

_STATUSES = tuple(Status)
_NEVER = float("-inf")


class PrometheusMetrics:
    """An observer (``health.observe(PrometheusMetrics())``) that keeps, in ``registry`` (the
    default registry unless given):

    - ``healthkit_check_status{check, status}``: a state set, 1 for the status the check reports
      now and 0 for the other two, so that an alert reads ``{status="fail"} == 1``. It follows
      each call that ends, and what probes report between calls (a call cut by a probe's
      deadline, a stale background result), so it says what the probes say;
    - ``healthkit_check_duration_seconds{check}``: a histogram of call durations;
    - ``healthkit_check_calls_total{check, status}``: calls that ended, by reported status (a
      result served again from the cache is not a call);
    - ``healthkit_probe_requests_total{endpoint, code}`` and
      ``healthkit_probe_duration_seconds{endpoint}``: the HTTP probes answered (``health.run()``
      from code is not a probe), from the request to the answer sent.

    A check's series appear with its first call. One instance per registry: it registers its
    metrics there once, and can observe several ``Health`` objects whose checks have different
    names. ``multiprocess_mode`` is how prometheus-client merges the status gauge of several
    worker processes (``PROMETHEUS_MULTIPROC_DIR``): with ``"livemax"`` (the default) a status is
    1 when any live worker reports it; ``"liveall"`` keeps one series per worker (a ``pid``
    label).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = BUCKETS,
        multiprocess_mode: GaugeMode = "livemax",
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        self._status = Gauge(
            "healthkit_check_status",
            "The status each check reports now: 1 for its status, 0 for the other two",
            ["check", "status"],
            registry=self.registry,
            multiprocess_mode=multiprocess_mode,
        )
        self._duration = Histogram(
            "healthkit_check_duration_seconds",
            "How long each call of a check took",
            ["check"],
            buckets=buckets,
            registry=self.registry,
        )
        self._calls = Counter(
            "healthkit_check_calls",
            "Calls of a check that ended, by the status reported",
            ["check", "status"],
            registry=self.registry,
        )
        self._probes = Counter(
            "healthkit_probe_requests",
            "HTTP probes answered, by endpoint and HTTP status code",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self._probe_duration = Histogram(
            "healthkit_probe_duration_seconds",
            "How long a probe took, from the request to the answer sent",
            ["endpoint"],
            buckets=buckets,
            registry=self.registry,
        )
        # The children of each label set, looked up once (a probe costs a few dict lookups).
        self._reported: dict[str, Status] = {}
        self._ended: dict[str, float] = {}
        self._durations: dict[str, Histogram] = {}
        self._counts: dict[tuple[str, Status], Counter] = {}
        self._answers: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def __repr__(self) -> str:
        return f"PrometheusMetrics(registry={self.registry!r})"

    def call_ended(self, event: CallEnded) -> None:
        check, status = event.check, event.status
        self._ended[check] = time.perf_counter()
        if self._reported.get(check) is not status:
            self._report(check, status)
        duration = self._durations.get(check)
        if duration is None:
            duration = self._durations[check] = self._duration.labels(check)
        duration.observe(event.duration)
        count = self._counts.get((check, status))
        if count is None:
            count = self._counts[check, status] = self._calls.labels(check, status.value)
        count.inc()

    def probe_answered(self, event: ProbeAnswered) -> None:
        answer = self._answers.get((event.endpoint, event.status_code))
        if answer is None:
            endpoint = event.endpoint
            answer = self._answers[endpoint, event.status_code] = (
                self._probes.labels(endpoint, str(event.status_code)),
                self._probe_duration.labels(endpoint),
            )
        answer[0].inc()
        answer[1].observe(event.duration)
        # What the probe reported of each check, unless a call of it ended since the probe began:
        # that call's status is newer than anything the probe saw.
        began = time.perf_counter() - event.duration
        reported, ended = self._reported, self._ended
        for check, outcome in event.report.checks.items():
            if outcome.status is not reported.get(check) and ended.get(check, _NEVER) < began:
                self._report(check, outcome.status)

    def _report(self, check: str, status: Status) -> None:
        self._reported[check] = status
        for each in _STATUSES:
            self._status.labels(check, each.value).set(1 if each is status else 0)

    def route(self, path: str = "/metrics") -> Route:
        """A route serving the registry in Prometheus's text format (OpenMetrics when the scraper
        asks for it; gzip when it accepts it; only the metrics named by ``name[]`` parameters when
        given), to list next to ``health.routes()``. Under ``PROMETHEUS_MULTIPROC_DIR`` it serves
        what every worker process wrote there instead: a scrape reaches one worker, which reads
        them all."""
        if not isinstance(path, str) or not path.startswith("/"):
            msg = f"PrometheusMetrics.route path must be a string starting with '/', got {path!r}"
            raise ValueError(msg)
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]

        async def metrics(request: Request) -> Response:
            encode, media_type = choose_encoder(request.headers.get("accept", ""))
            names = request.query_params.getlist("name[]")
            body = encode(registry.restricted_registry(names) if names else registry)
            headers = {"cache-control": "no-store"}
            if _gzip_accepted(request.headers.get("accept-encoding", "")):
                body = gzip.compress(body)
                headers["content-encoding"] = "gzip"
            return Response(body, headers=headers, media_type=media_type)

        return Route(path, metrics, methods=["GET"], name="metrics")


def _gzip_accepted(accept_encoding: str) -> bool:
    return any(part.split(";")[0].strip().lower() == "gzip" for part in accept_encoding.split(","))
