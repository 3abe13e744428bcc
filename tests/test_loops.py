"""A Health outlives event loops: test clients often run each request on a new one."""

from __future__ import annotations

import threading

import anyio
import pytest

from healthkit import Check, Health
from tests.conftest import probe


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_call_left_running_by_a_closed_loop_does_not_block_the_next_loop(backend: str) -> None:
    hang = True

    async def check() -> None:
        if hang:
            await anyio.sleep_forever()

    health = Health([Check("db", check, timeout=1)], deadline=0.1)

    first, _ = anyio.run(probe, health, backend=backend)
    hang = False
    second, _ = anyio.run(probe, health, backend=backend)

    assert (503, 200) == (first, second)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_thread_left_by_a_closed_loop_is_not_waited_on_forever(backend: str) -> None:
    gate = threading.Event()
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        gate.wait(10)

    health = Health([Check("db", check, timeout=0.1)])

    first, _ = anyio.run(probe, health, backend=backend)
    gate.set()
    second, _ = anyio.run(probe, health, backend=backend)

    assert (503, 200) == (first, second)
