"""OpenTelemetry for healthkit: the metrics of ``healthkit.prometheus`` as OTel instruments, and a
span per probe answered.

```python
health.observe(OpenTelemetry())  # the global tracer and meter providers, set up by the app
```

Needs only opentelemetry-api (``pip install 'healthkit-asgi[otel]'``); without an SDK set up by
the application, every instrument and span is a no-op.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from importlib import metadata

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, SpanKind, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - tested in a plain install (.ci/run)
    msg = "healthkit.otel needs opentelemetry-api: pip install 'healthkit-asgi[otel]'"
    raise ImportError(msg) from exc

from ._observe import CallEnded, ProbeAnswered
from ._outcome import CheckReport
from ._status import Status

__all__ = ["BUCKETS", "OpenTelemetry"]

#: Histogram bucket boundaries in seconds (as ``healthkit.prometheus.BUCKETS``): fine below 0.1 s,
#: with bounds at half the default deadline, the default timeout and the default deadline.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.4, 0.5, 0.8, 1.0, 2.5, 5.0)

_log = logging.getLogger("healthkit")
_STATUSES = tuple(Status)


def _version() -> str:
    try:
        return metadata.version("healthkit-asgi")
    except metadata.PackageNotFoundError:
        return ""


class OpenTelemetry:
    """An observer (``health.observe(OpenTelemetry())``) that records, through the given
    providers or the global ones:

    Metrics (attributes ``healthkit.check.name``, ``healthkit.check.status``,
    ``healthkit.probe.endpoint``, ``http.response.status_code``):

    - ``healthkit.check.status`` (observable gauge): 1 for the status each check reports now, 0
      for the other two; it follows calls and what probes report between calls;
    - ``healthkit.check.duration`` (histogram, s) and ``healthkit.check.calls`` (counter) per call
      that ended (a result served again from the cache is not a call);
    - ``healthkit.probe.requests`` (counter) and ``healthkit.probe.duration`` (histogram, s) per
      HTTP probe answered.

    Traces: a span per probe answered (``healthkit readyz``), a child of the span current in the
    request (an instrumented ASGI server's), timed from the request to the answer: the observer
    hears of a probe after its answer is sent, so the span is made after the fact with its real
    start. Each check whose call ran for this probe is a child span timed as the call ran (a
    shared call may have started before the probe); a result served again from the cache or the
    background refresh did no work in this probe and is an event, ``healthkit.check``, on it.
    A failed check's span has status ERROR with its output (redacted, as in the answer) and its
    ``healthkit.check.error_id``; the exception itself is in the server's log under that id and
    never in a span. The first time an error id is seen in a recorded span, the ``healthkit``
    logger says which trace holds it (``Error id 7f3a9c of check 'db' is in trace 4bf9...``).
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        buckets: Sequence[float] = BUCKETS,
    ) -> None:
        version = _version()
        self._tracer = trace.get_tracer("healthkit", version, tracer_provider)
        meter = metrics.get_meter("healthkit", version, meter_provider)
        self._duration = meter.create_histogram(
            "healthkit.check.duration",
            unit="s",
            description="How long each call of a check took",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self._calls = meter.create_counter(
            "healthkit.check.calls", unit="{call}", description="Calls of a check that ended"
        )
        self._requests = meter.create_counter(
            "healthkit.probe.requests", unit="{request}", description="HTTP probes answered"
        )
        self._probe_duration = meter.create_histogram(
            "healthkit.probe.duration",
            unit="s",
            description="How long a probe took, from the request to the answer sent",
            explicit_bucket_boundaries_advisory=buckets,
        )
        meter.create_observable_gauge(
            "healthkit.check.status",
            callbacks=[self._observe_statuses],
            unit="1",
            description="The status each check reports now: 1 for its status, 0 for the other two",
        )
        self._reported: dict[str, Status] = {}
        self._ended: dict[str, float] = {}
        self._linked: dict[str, str] = {}  # each check's last error id said to be in a trace
        # Attribute sets, made once each (never changed after: the SDK may keep them).
        self._named: dict[str, dict[str, str]] = {}
        self._named_status: dict[tuple[str, Status], dict[str, str]] = {}
        self._answers: dict[tuple[str, int], tuple[dict[str, str | int], dict[str, str]]] = {}

    def __repr__(self) -> str:
        return "OpenTelemetry()"

    # --- metrics ---

    def call_ended(self, event: CallEnded) -> None:
        check, status = event.check, event.status
        self._ended[check] = time.perf_counter()
        self._reported[check] = status
        named = self._named.get(check)
        if named is None:
            named = self._named[check] = {"healthkit.check.name": check}
        self._duration.record(event.duration, named)
        named_status = self._named_status.get((check, status))
        if named_status is None:
            named_status = self._named_status[check, status] = {
                "healthkit.check.name": check,
                "healthkit.check.status": status.value,
            }
        self._calls.add(1, named_status)

    def _observe_statuses(self, options: CallbackOptions) -> Iterable[Observation]:
        for check, status in list(self._reported.items()):
            for each in _STATUSES:
                attributes = {"healthkit.check.name": check, "healthkit.check.status": each.value}
                yield Observation(1 if each is status else 0, attributes)

    def probe_answered(self, event: ProbeAnswered) -> None:
        now = time.time_ns()
        began = time.perf_counter() - event.duration
        answer = self._answers.get((event.endpoint, event.status_code))
        if answer is None:
            endpoint = {"healthkit.probe.endpoint": event.endpoint}
            answer = self._answers[event.endpoint, event.status_code] = (
                {**endpoint, "http.response.status_code": event.status_code},
                endpoint,
            )
        self._requests.add(1, answer[0])
        self._probe_duration.record(event.duration, answer[1])
        checks = event.report.checks
        # What the probe reported of each check, unless a call of it ended since the probe began.
        reported, ended = self._reported, self._ended
        for check, outcome in checks.items():
            if ended.get(check, float("-inf")) < began:
                reported[check] = outcome.status
        self._trace(event, now - int(event.duration * 1e9), now)

    # --- traces ---

    def _trace(self, event: ProbeAnswered, start: int, end: int) -> None:
        report = event.report
        span = self._tracer.start_span(
            f"healthkit {event.endpoint}",
            kind=SpanKind.INTERNAL,
            start_time=start,
            attributes={
                "healthkit.probe.endpoint": event.endpoint,
                "healthkit.probe.status": event.status.value,
                "http.response.status_code": event.status_code,
            },
        )
        if not span.is_recording():  # no SDK, or not sampled
            span.end(end)
            return
        if report.reason is not None:
            span.set_attribute("healthkit.probe.reason", report.reason)
        if event.status_code >= 500:
            span.set_status(StatusCode.ERROR, report.reason or f"{event.endpoint} is {event.status.value}")
        inside = trace.set_span_in_context(span)
        errors: list[tuple[str, str]] = []
        for name, outcome in report.checks.items():
            attributes = _attributes(outcome)
            if outcome.age is None:  # a call that ran for this probe
                began = int(outcome.time.timestamp() * 1e9)
                child = self._tracer.start_span(
                    f"healthkit check {name}", inside, SpanKind.INTERNAL, attributes, start_time=began
                )
                if outcome.status is Status.FAIL:
                    child.set_status(StatusCode.ERROR, outcome.output)
                child.end(began + int(outcome.duration * 1e9))
            else:
                span.add_event("healthkit.check", attributes, start)
            if outcome.error_id is not None and self._linked.get(name) != outcome.error_id:
                errors.append((name, outcome.error_id))
        span.end(end)
        if errors:
            self._link(span, errors, event.endpoint)

    def _link(self, span: Span, errors: list[tuple[str, str]], endpoint: str) -> None:
        """Say once in the log which trace holds each new error id: the log has the exception
        under that id, the trace has the probe that met it."""
        context = span.get_span_context()
        if not context.is_valid or not context.trace_flags.sampled:
            return
        trace_id = format(context.trace_id, "032x")
        for check, error_id in errors:
            self._linked[check] = error_id
            _log.info(
                "Error id %s of check %r is in trace %s",
                error_id,
                check,
                trace_id,
                extra={"check": check, "error_id": error_id, "trace_id": trace_id, "endpoint": endpoint},
            )


def _attributes(outcome: CheckReport) -> dict[str, str | bool | float]:
    attributes: dict[str, str | bool | float] = {
        "healthkit.check.name": outcome.name,
        "healthkit.check.status": outcome.status.value,
        "healthkit.check.duration": outcome.duration,
        "healthkit.check.critical": outcome.critical,
    }
    if outcome.timed_out:
        attributes["healthkit.check.timed_out"] = True
    if outcome.age is not None:
        attributes["healthkit.check.age"] = outcome.age
    if outcome.error_id is not None:
        attributes["healthkit.check.error_id"] = outcome.error_id
    if outcome.output is not None:
        attributes["healthkit.check.output"] = outcome.output
    return attributes
