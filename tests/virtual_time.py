"""Event loops whose clock jumps ahead instead of sleeping: exact, instant tests of timed behaviour.

`virtual_backend(name)` gives an `anyio_backend` value: trio with its MockClock set to autojump,
or asyncio with `VirtualTimeLoop`. Whenever every task is waiting on a timer, the clock jumps
to the next timer. Checks in such tests must not wait on worker threads (the clock would jump
past their timeouts): use async checks.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose time() is virtual and jumps to the next timer when nothing is ready."""

    def __init__(self) -> None:
        self._virtual_now = 1000.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: wait for real I/O (a thread finishing)
            blocked: list[tuple[Any, int]] = super().select(None)
            return blocked
        self._loop.advance(timeout)
        return []


def virtual_backend(name: str) -> tuple[str, dict[str, Any]]:
    if name == "trio":
        from trio.testing import MockClock

        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return ("asyncio", {"loop_factory": VirtualTimeLoop})
