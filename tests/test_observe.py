"""Observers: every call that ends and every probe answered, isolated from the answer."""

from __future__ import annotations

import logging
import time

import anyio
import pytest

from healthkit import CallEnded, Check, Health, ProbeAnswered, Result, Status
from tests.conftest import request
from tests.support import Counted


class Recorder:
    def __init__(self) -> None:
        self.calls: list[CallEnded] = []
        self.probes: list[ProbeAnswered] = []

    def call_ended(self, event: CallEnded) -> None:
        self.calls.append(event)

    def probe_answered(self, event: ProbeAnswered) -> None:
        self.probes.append(event)


async def test_observers_hear_each_call_and_each_probe_but_not_cached_answers() -> None:
    async def broken() -> None:
        raise ConnectionError

    health = Health([Check("db", broken), Check("cache", Counted(), cache_ttl=60)])
    seen = health.observe(Recorder())

    await request(health, path="/health")
    await request(health, path="/health")

    # Each probe's two calls end in either order (trio shuffles its run queue); the cache was called
    # once: its second answer came from the cache.
    assert [[("cache", Status.PASS), ("db", Status.FAIL)], [("db", Status.FAIL)]] == [
        sorted((event.check, event.status) for event in seen.calls[:2]),
        [(event.check, event.status) for event in seen.calls[2:]],
    ]
    first = next(event for event in seen.calls if event.check == "db")
    assert first.error_id is not None
    assert (False, 1) == (first.timed_out, first.waiters)
    assert [("health", Status.FAIL, 503)] * 2 == [(p.endpoint, p.status, p.status_code) for p in seen.probes]
    assert seen.probes[1].report.checks["cache"].age is not None
    assert all(0 <= probe.duration < 5 for probe in seen.probes)


async def test_a_call_shared_by_several_probes_is_one_call_with_its_waiters() -> None:
    gate = anyio.Event()

    async def slow() -> Result:
        await gate.wait()
        return Result(Status.WARN, output="slow")

    health = Health([Check("db", slow, timeout=5)], deadline=4)
    seen = health.observe(Recorder())

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(health.run)
        await anyio.wait_all_tasks_blocked()
        gate.set()

    assert [("db", Status.WARN, 3)] == [(e.check, e.status, e.waiters) for e in seen.calls]


async def test_an_observer_that_raises_changes_nothing_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def call_ended(self, event: CallEnded) -> None:
            raise RuntimeError("observer bug")

        def probe_answered(self, event: ProbeAnswered) -> None:
            raise RuntimeError("observer bug")

    health = Health([Check("db", Counted())])
    health.observe(Broken())
    after = health.observe(Recorder())

    with caplog.at_level(logging.ERROR, logger="healthkit"):
        codes = [(await request(health)).status_code for _ in range(3)]

    assert [200, 200, 200] == codes
    assert 3 == len(after.probes)  # the next observer still hears everything
    assert 1 == caplog.text.count("failed; it is ignored (logged once)")


async def test_a_slow_observer_never_delays_the_answer() -> None:
    class Slow:
        def call_ended(self, event: CallEnded) -> None:
            return None

        def probe_answered(self, event: ProbeAnswered) -> None:
            time.sleep(0.3)  # after the answer was sent

    health = Health([Check("db", Counted())])
    health.observe(Slow())
    answered: list[float] = []
    sent = anyio.Event()

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.body":
            answered.append(time.perf_counter())
            sent.set()

    scope = {"type": "http", "method": "GET", "path": "/health", "headers": [], "query_string": b""}
    started = time.perf_counter()
    await health(scope, receive, send)  # type: ignore[arg-type]

    assert answered[0] - started < 0.25  # the body went out before the observer ran


def test_an_observer_must_have_both_methods() -> None:
    class Half:
        def call_ended(self, event: CallEnded) -> None:
            return None

    with pytest.raises(TypeError, match="lacks probe_answered"):
        Health([]).observe(Half())  # type: ignore[type-var]
