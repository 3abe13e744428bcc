"""The drain on SIGTERM through shutdown_trigger (hypercorn's hook), with real signals."""

from __future__ import annotations

import os
import signal
import time

import anyio
import pytest
from starlette.applications import Starlette

from healthkit import Check, Health
from tests.conftest import document, lifespan, request


async def passing() -> None:
    return None


async def trigger_in_background(health: Health, group: anyio.abc.TaskGroup, done: list[float]) -> None:
    """Start health.shutdown_trigger and return once its signal handlers are in place."""
    before = signal.getsignal(signal.SIGTERM)

    async def run() -> None:
        await health.shutdown_trigger()
        done.append(time.perf_counter())

    group.start_soon(run)
    with anyio.fail_after(2):
        while signal.getsignal(signal.SIGTERM) == before:
            await anyio.sleep(0.001)


async def test_sigterm_fails_readiness_at_once_and_shuts_down_after_the_drain() -> None:
    health = Health([Check("db", passing)], drain_delay=0.5)
    app = Starlette(routes=health.routes())
    done: list[float] = []

    async with anyio.create_task_group() as group:
        await trigger_in_background(health, group, done)
        signalled = time.perf_counter()
        os.kill(os.getpid(), signal.SIGTERM)
        with anyio.fail_after(2):
            while (ready := await request(app, path="/readyz")).status_code != 503:
                await anyio.sleep(0.01)
        live = await request(app, path="/livez")
        report = await request(app, path="/health")

    assert "shutting down: draining, the server stops in " in document(ready)["output"]
    assert 200 == live.status_code
    assert 200 == report.status_code
    assert 0.5 <= done[0] - signalled < 1.5


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
async def test_a_second_signal_ends_the_drain_at_once(second: signal.Signals) -> None:
    health = Health([Check("db", passing)], drain_delay=30)
    done: list[float] = []

    async with anyio.create_task_group() as group:
        await trigger_in_background(health, group, done)
        signalled = time.perf_counter()
        os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep(0.1)
        os.kill(os.getpid(), second)

    assert done[0] - signalled < 2


@pytest.mark.parametrize("drain_delay", [None, 30.0])
async def test_sigint_first_or_no_drain_delay_shuts_down_at_once(drain_delay: float | None) -> None:
    health = Health([Check("db", passing)], drain_delay=drain_delay)
    done: list[float] = []
    first = signal.SIGINT if drain_delay else signal.SIGTERM

    async with anyio.create_task_group() as group:
        await trigger_in_background(health, group, done)
        signalled = time.perf_counter()
        os.kill(os.getpid(), first)

    assert done[0] - signalled < 2
    assert 200 == (await request(Starlette(routes=health.routes()), path="/readyz")).status_code


async def test_a_drain_is_forgotten_when_the_lifespan_ends() -> None:
    health = Health([Check("db", passing)], drain_delay=0.05)
    app = Starlette(routes=health.routes())
    done: list[float] = []

    async with lifespan(health):
        async with anyio.create_task_group() as group:
            await trigger_in_background(health, group, done)
            os.kill(os.getpid(), signal.SIGTERM)
        draining = await request(app, path="/readyz")
    async with lifespan(health):  # a reload, or the next test: a new lifespan begins ready
        after = await request(app, path="/readyz")

    assert 503 == draining.status_code
    assert 200 == after.status_code


async def test_subscribers_hear_readiness_the_drain_and_its_end() -> None:
    health = Health([Check("db", passing)], drain_delay=0.05)
    heard: list[tuple[bool, bool]] = []
    lifecycle = health._lifecycle
    lifecycle.subscribe(lambda: heard.append((lifecycle.ready, lifecycle.draining)))
    done: list[float] = []

    health.set_ready(False, "maintenance")
    health.set_ready(True)
    async with lifespan(health), anyio.create_task_group() as group:
        await trigger_in_background(health, group, done)
        os.kill(os.getpid(), signal.SIGTERM)

    assert [(False, False), (True, False), (True, True), (True, False)] == heard


@pytest.mark.shipping_defaults
async def test_an_answer_kept_from_the_cache_gives_way_to_the_drain_and_back() -> None:
    health = Health([Check("db", passing, cache_ttl=60)], drain_delay=0.05)
    app = Starlette(routes=health.routes())
    done: list[float] = []

    async with lifespan(health):
        before = [(await request(app, path="/readyz")).status_code for _ in range(3)]
        async with anyio.create_task_group() as group:
            await trigger_in_background(health, group, done)
            os.kill(os.getpid(), signal.SIGTERM)
        draining = await request(app, path="/readyz")
    async with lifespan(health):
        after = await request(app, path="/readyz")

    assert [200] * 3 == before
    assert 503 == draining.status_code
    assert 200 == after.status_code
