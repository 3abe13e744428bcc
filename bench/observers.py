"""What an observer costs per probe, in process: the ASGI app called directly, no server, no client.

    python -m bench.observers        # BENCH_PROBES (default 10000) per round, BENCH_ROUNDS (9)

Each contender is a Health with the same three passing checks (each called on every probe) at
/health, with no observer, with an observer that does nothing (the hook's own cost), with
PrometheusMetrics, and with OpenTelemetry without an SDK and with the SDK (in-memory span
exporter and metric reader). Rounds are interleaved; the best and the median per-probe times are
kept (on a shared machine the best is the steadier), and the cost is the difference from the
contender without an observer.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from healthkit import CallEnded, Check, Health, Observer, ProbeAnswered
from healthkit.otel import OpenTelemetry
from healthkit.prometheus import PrometheusMetrics

PROBES = int(os.environ.get("BENCH_PROBES", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))


async def passing() -> None:
    return None


class Nothing:
    def call_ended(self, event: CallEnded) -> None:
        return None

    def probe_answered(self, event: ProbeAnswered) -> None:
        return None


class Discarding(InMemorySpanExporter):
    """Spans are made, processed and exported, then dropped (memory stays flat)."""

    def export(self, spans: Any) -> Any:
        return super().export(())


def otel_sdk() -> OpenTelemetry:
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(Discarding()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    return OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)


CONTENDERS: dict[str, Callable[[], Observer | None]] = {
    "no observer": lambda: None,
    "an observer doing nothing": Nothing,
    "PrometheusMetrics": lambda: PrometheusMetrics(CollectorRegistry()),
    "OpenTelemetry, no SDK": OpenTelemetry,
    "OpenTelemetry, SDK in memory": otel_sdk,
}


def health_with(observer: Observer | None) -> Health:
    health = Health([Check(name, passing) for name in ("db", "cache", "queue")])
    if observer is not None:
        health.observe(observer)
    return health


async def per_probe(health: Health, probes: int) -> float:
    """Seconds per probe of GET /health, straight into the ASGI app."""
    scope = {"type": "http", "method": "GET", "path": "/health", "headers": [], "query_string": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    for _ in range(200):  # warm up: caches, first-time label children
        await health(scope, receive, send)
    started = time.perf_counter()
    for _ in range(probes):
        await health(scope, receive, send)
    return (time.perf_counter() - started) / probes


class Recorder(Nothing):
    def __init__(self) -> None:
        self.events: list[CallEnded | ProbeAnswered] = []

    def call_ended(self, event: CallEnded) -> None:
        self.events.append(event)

    def probe_answered(self, event: ProbeAnswered) -> None:
        self.events.append(event)


def events_alone(observer: Observer, events: list[CallEnded | ProbeAnswered], probes: int) -> float:
    """Seconds an observer takes for one probe's events (three calls, one answer), called directly."""
    call_ended, probe_answered = observer.call_ended, observer.probe_answered
    started = time.perf_counter()
    for _ in range(probes):
        for event in events:
            if isinstance(event, CallEnded):
                call_ended(event)
            else:
                probe_answered(event)
    return (time.perf_counter() - started) / probes


async def main() -> None:
    healths = {name: health_with(make()) for name, make in CONTENDERS.items()}
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(ROUNDS):
        for name, health in healths.items():
            times[name].append(await per_probe(health, PROBES))
    best_floor, median_floor = min(times["no observer"]), statistics.median(times["no observer"])
    print(f"{PROBES} probes of /health (3 passing checks) x {ROUNDS} rounds; µs per probe:")
    print(f"{'contender':30} {'best':>7} {'cost':>7} {'median':>7} {'cost':>7}")
    for name, each in times.items():
        best, median = min(each), statistics.median(each)
        costs = (best - best_floor) * 1e6, (median - median_floor) * 1e6
        print(f"{name:30} {best * 1e6:7.1f} {costs[0]:7.1f} {median * 1e6:7.1f} {costs[1]:7.1f}")

    recorder = Recorder()
    await per_probe(health_with(recorder), 1)
    events = recorder.events[-4:]  # one probe: three calls ended, one answer
    print("\nThe observer alone, called with one probe's events; µs per probe (best, median):")
    for name, make in list(CONTENDERS.items())[1:]:
        observer = make()
        assert observer is not None
        alone = [events_alone(observer, events, PROBES) for _ in range(ROUNDS)]
        print(f"{name:30} {min(alone) * 1e6:7.1f} {statistics.median(alone) * 1e6:7.1f}")


if __name__ == "__main__":
    asyncio.run(main())
