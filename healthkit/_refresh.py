"""The lifespan's part: background refresh, calls that outlive probes, and stopping them all.

On asyncio, calls are detached tasks anyway; the lifespan runs the refresh loops. On trio, calls
that outlive a probe need a task group that outlives it: the lifespan's. It is hosted in a
system task, so that a check which ignores its cancellation cannot hold the lifespan's end:
that waits up to 5 s for the calls it cancels, then logs which are still running and moves on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

from ._check import Check
from ._loops import AnyioLoop, Loop, asyncio_loop, trio_token
from ._state import CheckState, SharedCall
from ._text import seconds

__all__ = ["STOP_GRACE", "Refresher"]

_log = logging.getLogger("healthkit")

#: Seconds the end of the lifespan waits for the calls it cancels to end.
STOP_GRACE = 5.0


class Refresher:
    """Runs one Health's background checks while its lifespan runs."""

    def __init__(
        self, states: Sequence[CheckState], current: Callable[[], Loop | None], fix: Callable[[], str]
    ) -> None:
        self._states = states
        self._current = current  # the Health's loop for detached calls, outside the lifespan
        self._fix = fix  # what to do so that the lifespan runs, for the framework in use
        self._calls: AnyioLoop | None = None  # trio: the task group for calls, while running
        self._running = False
        self._stopping = False
        self._started_at = 0.0

    def loop(self) -> Loop | None:
        """Where a call that may outlive its probe runs now; None: nowhere (trio, no lifespan)."""
        loop = self._current()
        if loop is not None:
            return loop
        calls = self._calls
        if calls is not None and calls.identity is trio_token():
            return calls
        return None

    def not_running(self, check: Check, now: float) -> str:
        """Why a background check has no result yet."""
        if not self._running:
            return f"background refresh is not running: {self._fix()}"
        due = self._started_at + check.initial_delay - now
        return f"no result yet: the first background call is due in {seconds(max(due, 0.0))}"

    @property
    def is_running(self) -> bool:
        return self._running

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The lifespan: background refresh runs inside; at exit every call is stopped."""
        if self._running:
            msg = (
                "This Health's lifespan is already running; enter it once per application (health.install "
                "and health.wrap run it: do not also pass lifespan=health.lifespan or enter health.running())"
            )
            raise RuntimeError(msg)
        self._running = True
        try:
            async with self._call_group(), anyio.create_task_group() as group:
                loop = self.loop()
                assert loop is not None
                self._started_at = loop.time()
                for state in self._states:
                    if state.background:
                        # Without an initial delay the first call starts now: early probes wait on it.
                        first = None if state.check.initial_delay else state.refresh(loop)
                        group.start_soon(self._refresh, state, loop, first)
                try:
                    yield
                finally:
                    self._stopping = True  # no refresh starts another call from here on
                    group.cancel_scope.cancel()
                    await self._stop_calls()
        finally:
            self._running = self._stopping = False

    @asynccontextmanager
    async def _call_group(self) -> AsyncIterator[None]:
        if asyncio_loop() is not None:
            yield
            return
        import trio

        opened = anyio.Event()
        groups: list[TaskGroup] = []

        async def host() -> None:
            async with anyio.create_task_group() as calls:
                groups.append(calls)
                opened.set()
                await anyio.sleep_forever()

        trio.lowlevel.spawn_system_task(host)
        await opened.wait()
        self._calls = AnyioLoop(groups[0], trio_token(), detached=True)
        try:
            yield
        finally:
            # Calls were stopped and waited for (_stop_calls); one that ignores its cancellation
            # ends here in its own time, without holding the lifespan.
            self._calls = None
            groups[0].cancel_scope.cancel()

    async def _stop_calls(self) -> None:
        """Cancel every call in flight and wait (a while) for them to end, so that nothing of
        this Health runs after its lifespan (and the app's pools) closed."""
        stopping = [(state, call) for state in self._states if (call := state.stop()) is not None]
        if not stopping:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_GRACE):
            for _, call in stopping:
                if not call.settled:
                    ended = anyio.Event()
                    call.subscribe(ended.set)
                    await ended.wait()
        stuck = [state.check.name for state, call in stopping if not call.settled]
        if stuck:
            _log.warning(
                "Checks %s ignored their cancellation and are still running %s after the lifespan ended",
                ", ".join(map(repr, stuck)),
                seconds(STOP_GRACE),
            )

    async def _refresh(self, state: CheckState, loop: Loop, first: SharedCall | None) -> None:
        if first is None:
            await anyio.sleep(state.check.initial_delay)
        while True:
            # The interval runs from the start of one call to the start of the next.
            started = loop.time()
            if self._stopping:
                return
            call = first or state.refresh(loop)
            first = None
            if not call.settled:
                done = anyio.Event()
                call.subscribe(done.set)
                await done.wait()
            await anyio.sleep_until(state.next_refresh(started))
