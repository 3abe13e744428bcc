"""The part of a Health that outlives requests: check slots, calls in flight, background refresh.

A call in flight is shared: every probe that wants the check while it runs waits on the same
call, so a burst of probes runs each check once. On asyncio a call is a plain task bounded by
a timer at its timeout, detached from the probe that started it. On other backends (trio) a
call runs in the lifespan's task group when the lifespan runs, otherwise in the task group of
the probe that started it, cut at that probe's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from ._call import call, failed, seconds, timed_out
from ._check import Check
from ._events import Events
from ._redact import Redactor
from ._report import Observation
from ._slot import Flight, Slot
from ._status import Status

__all__ = ["Engine", "asyncio_loop", "native_loop"]

_log = logging.getLogger("healthkit")

#: Seconds the end of the lifespan waits for the calls it cancels to end.
_STOP_GRACE = 5.0


class Engine:
    """Runs and remembers one Health's checks."""

    def __init__(
        self,
        checks: Iterable[Check],
        *,
        cache_ttl: float,
        max_threads: int,
        events: Events,
        expose_errors: bool,
        redact: Redactor,
    ) -> None:
        self.slots = {
            check.name: Slot(
                check,
                ttl=cache_ttl if check.cache_ttl is None else check.cache_ttl,
                events=events,
                expose_errors=expose_errors,
                redact=redact,
            )
            for check in checks
        }
        self._group: TaskGroup | None = None
        self._started_at = 0.0
        self._max_threads = max_threads
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    @property
    def group(self) -> TaskGroup | None:
        """The lifespan's task group while the lifespan runs."""
        return self._group

    def ready(self, slot: Slot, now: float, loop: object) -> tuple[Observation | None, bool]:
        """What a probe can answer for ``slot`` at ``now`` without waiting, and whether the
        answer is stale and wants a refresh. ``None``: wait for the call in flight, or start one."""
        latest = slot.latest if slot.latest_loop is loop else None
        if slot.background:
            if latest is not None:
                age = now - slot.latest_at
                if age <= slot.max_age:
                    return latest.served(age), False
                output = (
                    f"last result is {seconds(age)} old, older than the allowed {seconds(slot.max_age)}: "
                    "the background refresh is not keeping up"
                )
                stale = Observation(slot.check, Status.FAIL, latest.time, latest.duration, output, age=age)
                slot.track(stale, now, loop)
                return stale, False
            if slot.current_flight(loop) is not None:
                return None, False  # the first background call is running: wait for it
            missing = self._not_yet(slot, now)
            slot.track(missing, now, loop)
            return missing, False
        if latest is not None:
            age = now - slot.latest_at
            if age < slot.ttl:
                return latest.served(age), False
            if age < slot.ttl + slot.stale:
                return latest.served(age), True
        return None, False

    def _not_yet(self, slot: Slot, now: float) -> Observation:
        if self._group is None:
            output = "background refresh is not running: run the app with lifespan=health.lifespan"
        else:
            due = self._started_at + slot.check.initial_delay - now
            output = f"no result yet: the first background call is due in {seconds(max(due, 0.0))}"
        return Observation(slot.check, Status.FAIL, datetime.now(UTC), 0.0, output)

    def start_task(self, slot: Slot, loop: asyncio.AbstractEventLoop) -> Flight:
        """asyncio: start a call of ``slot`` as a detached task, cut at its timeout."""
        wall = datetime.now(UTC)
        flight = slot.flight = Flight(loop.time(), wall, loop)
        task = loop.create_task(call(slot, wall, loop.time, self.limiter))
        timer = loop.call_later(slot.check.timeout, _expire, flight, task)
        task.add_done_callback(partial(_landed, slot, flight, timer))
        flight.cancel = task.cancel
        return flight

    def start_in(self, group: TaskGroup, slot: Slot, *, deadline: float | None = None) -> Flight:
        """Any backend: start a call of ``slot`` in ``group``, cut at its timeout (or ``deadline``)."""
        wall = datetime.now(UTC)
        flight = slot.flight = Flight(anyio.current_time(), wall, native_loop())
        timeout = slot.check.timeout
        limit = timeout if deadline is None else min(timeout, deadline)
        group.start_soon(self._fly, slot, flight, limit, limit < timeout)
        return flight

    def start_detached(self, slot: Slot) -> Flight:
        """Start a call that no probe owns (a refresh); needs asyncio or a running lifespan."""
        loop = asyncio_loop()
        if loop is not None:
            return self.start_task(slot, loop)
        assert self._group is not None
        return self.start_in(self._group, slot)

    async def _fly(self, slot: Slot, flight: Flight, limit: float, deadline: bool) -> None:
        outcome = None
        try:
            with anyio.move_on_after(limit) as scope:
                outcome = await call(slot, flight.wall, anyio.current_time, self.limiter)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | anyio.get_cancelled_exc_class()):
                slot.abandon(flight)
                raise
            outcome = failed(slot.check, exc, flight.wall, anyio.current_time() - flight.started)
        now = anyio.current_time()
        if outcome is None or scope.cancel_called:  # a check that caught its cancellation timed out too
            outcome = timed_out(slot, flight.wall, limit, flight.started, now, deadline=deadline)
        slot.complete(flight, outcome, now)

    def limiter(self) -> anyio.CapacityLimiter:
        backend = "asyncio" if asyncio_loop() is not None else "other"
        limiter = self._limiters.get(backend)
        if limiter is None:
            limiter = self._limiters[backend] = anyio.CapacityLimiter(self._max_threads)
        return limiter

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The lifespan: background refresh runs inside; at exit every task is stopped."""
        if self._group is not None:
            msg = "This Health's lifespan is already running; enter it once per application"
            raise RuntimeError(msg)
        async with anyio.create_task_group() as group:
            self._group = group
            self._started_at = anyio.current_time()
            for slot in self.slots.values():
                if slot.background:
                    # Without an initial delay the first call starts now: early probes wait on it.
                    first = None if slot.check.initial_delay else self.start_detached(slot)
                    group.start_soon(self._refresh, slot, first)
            try:
                yield
            finally:
                self._group = None
                group.cancel_scope.cancel()
                await self._stop_detached()

    async def _stop_detached(self) -> None:
        """Cancel the asyncio calls no task group owns, and wait (a while) for them to end, so
        that nothing of this Health runs after its lifespan (and the app's pools) closed."""
        stopping = []
        for slot in self.slots.values():
            flight = slot.flight
            if flight is not None and flight.cancel is not None and not flight.settled:
                flight.stopping = True
                flight.cancel()
                stopping.append(flight)
        if not stopping:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(_STOP_GRACE):
            for flight in stopping:
                if not flight.settled:
                    ended = anyio.Event()
                    flight.subscribe(ended.set)
                    await ended.wait()
        if not all(flight.settled for flight in stopping):
            _log.warning("Some checks ignored their cancellation and are still running after the lifespan")

    async def _refresh(self, slot: Slot, flight: Flight | None) -> None:
        check = slot.check
        assert check.refresh_every is not None
        if flight is None:
            await anyio.sleep(check.initial_delay)
        loop = native_loop()
        while True:
            # The interval runs from the start of one call to the start of the next.
            started = anyio.current_time()
            if flight is None:
                flight = slot.current_flight(loop) or self.start_detached(slot)
            if not flight.settled:
                done = anyio.Event()
                flight.subscribe(done.set)
                await done.wait()
            flight = None
            await anyio.sleep_until(started + check.refresh_every + random.uniform(0, slot.jitter))  # noqa: S311


def asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None on another backend (trio). anyio has no public way to
    ask, and healthkit does not depend on sniffio."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def native_loop() -> object:
    """The running event loop's identity: asyncio's loop, or trio's token."""
    return anyio.lowlevel.current_token().native_token


def _expire(flight: Flight, task: asyncio.Task[Observation]) -> None:
    flight.expired = True
    task.cancel()


def _landed(slot: Slot, flight: Flight, timer: asyncio.TimerHandle, task: asyncio.Task[Observation]) -> None:
    timer.cancel()
    now = task.get_loop().time()
    if flight.expired:
        # Cut at its timeout (if the check ignored its cancellation, this is when it gave up).
        outcome = timed_out(slot, flight.wall, slot.check.timeout, flight.started, now, deadline=False)
    elif flight.stopping:
        slot.abandon(flight)  # stopped by the lifespan's end
        return
    elif task.cancelled():
        # Nobody here cancelled it: the check raised CancelledError itself.
        outcome = failed(slot.check, asyncio.CancelledError(), flight.wall, now - flight.started)
    else:
        exc = task.exception()
        outcome = task.result() if exc is None else failed(slot.check, exc, flight.wall, now - flight.started)
    slot.complete(flight, outcome, now)
