"""The two event loops healthkit runs on, behind one small seam.

asyncio: a call is a task with a timer at its limit, and a probe waits on one future. Other
backends (trio): a call runs in a task group under ``anyio.move_on_after``, and a probe waits on
an ``anyio.Event``. Everything above this module is written once, against ``Loop``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup

__all__ = [
    "AnyioLoop",
    "AsyncioLoop",
    "Loop",
    "Settling",
    "asyncio_loop",
    "loop_identity",
    "post_to_current_loop",
    "trio_token",
]

T = TypeVar("T")
#: Called once when a launched body ends: its result (None when it was cancelled or raised),
#: whether its limit passed first, and what it raised when nobody had cancelled it (on asyncio,
#: a CancelledError of the body's own, which is not a cancellation).
Done = Callable[[T | None, bool, BaseException | None], None]


class Settling(Protocol):
    """Something a probe can wait for: it calls its subscribers once, when it settles."""

    @property
    def settled(self) -> bool: ...

    def subscribe(self, waiter: Callable[[], None]) -> None: ...

    def unsubscribe(self, waiter: Callable[[], None]) -> None: ...


class Loop(Protocol):
    """What the engine needs of an event loop."""

    #: The running loop's identity: its clock and its tasks mean nothing on another loop.
    identity: object
    #: Whether a call launched here may outlive the probe that launched it.
    detached: bool

    def time(self) -> float: ...

    def launch(self, body: Callable[[], Awaitable[T]], limit: float, done: Done[T]) -> Callable[[], object]:
        """Run ``body`` cut after ``limit`` seconds; ``done`` hears how it ended. Returns a
        function that cancels it."""
        ...

    async def wait(self, pending: Sequence[Settling], until: float) -> None:
        """Return when everything in ``pending`` has settled, or at ``until`` (loop clock)."""
        ...


class AsyncioLoop:
    """asyncio: detached tasks, timers and futures; no task group, no cancel scope."""

    detached = True

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.identity: object = loop
        self._loop = loop
        self._tasks: set[asyncio.Task[Any]] = set()  # asyncio keeps only weak references

    def time(self) -> float:
        return self._loop.time()

    def launch(self, body: Callable[[], Awaitable[T]], limit: float, done: Done[T]) -> Callable[[], object]:
        task: asyncio.Task[T] = self._loop.create_task(body())  # type: ignore[arg-type]
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = self._loop.call_later(limit, expire)

        def landed(task: asyncio.Task[T]) -> None:
            timer.cancel()
            self._tasks.discard(task)
            if task.cancelled():
                # Nobody called cancel(): the body raised CancelledError itself.
                own = None if expired or task.cancelling() else asyncio.CancelledError()
                done(None, expired, own)
            elif task.exception() is not None:
                done(None, expired, None)  # Ctrl-C or SystemExit through the loop
            else:
                done(task.result(), expired, None)

        self._tasks.add(task)
        task.add_done_callback(landed)
        return task.cancel

    async def wait(self, pending: Sequence[Settling], until: float) -> None:
        remaining = sum(not item.settled for item in pending)
        if not remaining:
            return
        waiter = self._loop.create_future()

        def settled() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0 and not waiter.done():
                waiter.set_result(None)

        for item in pending:
            if not item.settled:
                item.subscribe(settled)
        # The hard stop: even a check that swallows its cancellation cannot hold the answer.
        timer = self._loop.call_at(until, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            for item in pending:
                item.unsubscribe(settled)


class AnyioLoop:
    """Any backend through anyio (trio): calls in a task group, each under ``move_on_after``.

    ``detached``: the group outlives probes (the lifespan's); otherwise it is the probe's own and
    every call ends with it.
    """

    def __init__(self, group: TaskGroup, identity: object, *, detached: bool) -> None:
        self.identity = identity
        self.detached = detached
        self._group = group

    def time(self) -> float:
        return anyio.current_time()

    def launch(self, body: Callable[[], Awaitable[T]], limit: float, done: Done[T]) -> Callable[[], object]:
        scope = anyio.CancelScope()

        async def run() -> None:
            result: T | None = None
            try:
                with scope, anyio.move_on_after(limit) as timer:
                    result = await body()
            except BaseException:
                done(None, False, None)  # cancelled from outside (the group), or Ctrl-C
                raise
            done(result, timer.cancel_called, None)

        self._group.start_soon(run)
        return scope.cancel

    async def wait(self, pending: Sequence[Settling], until: float) -> None:
        remaining = sum(not item.settled for item in pending)
        if not remaining:
            return
        done = anyio.Event()

        def settled() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                done.set()

        for item in pending:
            if not item.settled:
                item.subscribe(settled)
        try:
            with anyio.CancelScope(deadline=until):
                await done.wait()
        finally:
            for item in pending:
                item.unsubscribe(settled)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None on another backend (trio). anyio has no public way to
    ask, and healthkit does not depend on sniffio."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def trio_token() -> object:
    """The running trio run's token (its identity, and the way in from other threads)."""
    import trio

    return trio.lowlevel.current_trio_token()


def loop_identity() -> object:
    """The running event loop's identity: asyncio's loop, or trio's token."""
    return asyncio_loop() or trio_token()


def post_to_current_loop() -> Callable[[Callable[[], object]], bool]:
    """A function that any thread may call to run ``fn`` soon on the loop running now. It never
    blocks: when that loop is gone it returns False and nothing runs."""
    loop = asyncio_loop()
    if loop is not None:
        running = loop

        def post_asyncio(fn: Callable[[], object]) -> bool:
            try:
                running.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop is closed
                return False
            return True

        return post_asyncio
    import trio

    token = trio.lowlevel.current_trio_token()

    def post_trio(fn: Callable[[], object]) -> bool:
        try:
            token.run_sync_soon(fn)
        except trio.RunFinishedError:
            return False
        return True

    return post_trio
