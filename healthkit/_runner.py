"""One probe: gather every selected check's outcome within the deadline, then aggregate.

The request path is kept lean. A check answered from its cache costs a lookup. Otherwise the
probe waits on the check's call in flight (shared with concurrent probes) or starts one. On
asyncio the wait is one future that the last call (or the deadline) resolves: no task group, no
cancel scope, and a check that swallows its cancellation cannot hold the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import anyio
from anyio.abc import TaskGroup

from ._call import seconds
from ._engine import Engine, asyncio_loop, native_loop
from ._events import Events, StatusChange
from ._report import Observation
from ._slot import Flight, Slot
from ._status import Status, worst

__all__ = ["Runner"]


class Runner:
    """Runs one endpoint's selection of a Health's checks, for each probe of that endpoint.

    ``warn_only`` names checks whose failure only degrades this endpoint (as if not critical).
    """

    def __init__(
        self,
        engine: Engine,
        slots: Sequence[Slot],
        *,
        deadline: float,
        events: Events,
        probe: str,
        warn_only: frozenset[str] = frozenset(),
    ) -> None:
        self.slots = tuple(slots)
        self.deadline = deadline
        self._engine = engine
        self._events = events
        self._probe = probe
        self._warn_only = warn_only
        self._overall: Status | None = None
        self._overall_since = 0.0
        self._overall_loop: object = None
        self._probes = 0  # probes started: numbers each probe's snapshot
        self._applied = 0  # the newest snapshot applied to the overall status

    async def run(self, slots: Sequence[Slot] | None = None) -> tuple[Status, list[Observation]]:
        """The overall status and one observation per check, in registration order. ``slots``
        runs a subset (an exclusion, one check): its status is not this endpoint's."""
        self._probes += 1
        snapshot = self._probes
        selected = self.slots if slots is None else slots
        loop = asyncio_loop()
        if not selected:
            observations: list[Observation] = []
            now = 0.0
        elif loop is not None:
            now = loop.time()
            observations = await self._gather_asyncio(selected, loop, now)
        else:
            now = anyio.current_time()
            group = self._engine.group
            if group is not None:
                observations = await self._gather(selected, group, now, owner=False)
            else:
                async with anyio.create_task_group() as own:
                    observations = await self._gather(selected, own, now, owner=True)
        status = worst(self.contribution(obs) for obs in observations)
        # Concurrent probes may end out of order: an older snapshot never overrides a newer one.
        if slots is None and snapshot > self._applied:
            self._applied = snapshot
            if status is not self._overall:
                self._changed(status, observations, now)
        return status, observations

    def contribution(self, obs: Observation) -> Status:
        """What an outcome adds to this endpoint's status: a non-critical failure only warns."""
        if obs.status is Status.FAIL and (not obs.check.critical or obs.check.name in self._warn_only):
            return Status.WARN
        return obs.status

    async def _gather_asyncio(
        self, selected: Sequence[Slot], loop: asyncio.AbstractEventLoop, now: float
    ) -> list[Observation]:
        engine = self._engine
        results: list[Observation | None] = []
        pending: list[tuple[int, Slot, Flight]] = []
        for slot in selected:
            ready, refresh = engine.ready(slot, now, loop)
            if ready is not None:
                if refresh and slot.current_flight(loop) is None:
                    engine.start_task(slot, loop)
                results.append(ready)
                continue
            flight = slot.current_flight(loop) or engine.start_task(slot, loop)
            pending.append((len(results), slot, flight))
            results.append(None)
        if pending:
            waiter: asyncio.Future[None] = loop.create_future()
            remaining = len(pending)

            def settled() -> None:
                nonlocal remaining
                remaining -= 1
                if remaining == 0 and not waiter.done():
                    waiter.set_result(None)

            for _, _, flight in pending:
                flight.subscribe(settled)
            # The hard stop: even a check that swallows its cancellation cannot hold the answer.
            timer = loop.call_later(self.deadline, _resolve, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                for _, _, flight in pending:
                    flight.unsubscribe(settled)
            later = loop.time()
            for index, slot, flight in pending:
                results[index] = flight.outcome or self._late(slot, flight, now, later, loop)
        return results  # type: ignore[return-value]

    async def _gather(
        self, selected: Sequence[Slot], group: TaskGroup, now: float, *, owner: bool
    ) -> list[Observation]:
        engine = self._engine
        loop = native_loop()
        results: list[Observation | None] = []
        pending: list[tuple[int, Slot, Flight]] = []
        for slot in selected:
            ready, refresh = engine.ready(slot, now, loop)
            # A stale answer needs a refresh that outlives this probe: only with the lifespan.
            if ready is not None and (not refresh or not owner):
                if refresh and slot.current_flight(loop) is None:
                    engine.start_in(group, slot)
                results.append(ready)
                continue
            deadline = self.deadline if owner else None
            flight = slot.current_flight(loop) or engine.start_in(group, slot, deadline=deadline)
            pending.append((len(results), slot, flight))
            results.append(None)
        while pending:
            done = anyio.Event()
            remaining = len(pending)

            def settled(done: anyio.Event = done) -> None:
                nonlocal remaining
                remaining -= 1
                if remaining == 0:
                    done.set()

            for _, _, flight in pending:
                flight.subscribe(settled)
            try:
                with anyio.move_on_after(now + self.deadline - anyio.current_time()):
                    await done.wait()
            finally:
                for _, _, flight in pending:
                    flight.unsubscribe(settled)
            later = anyio.current_time()
            left = now + self.deadline - later
            again: list[tuple[int, Slot, Flight]] = []
            for index, slot, flight in pending:
                if flight.settled and flight.outcome is None and left > 0:
                    # The probe that owned the call was cancelled (its client went away): this
                    # probe makes a call of its own in the time it has left.
                    retry = slot.current_flight(loop) or engine.start_in(
                        group, slot, deadline=left if owner else None
                    )
                    again.append((index, slot, retry))
                else:
                    results[index] = flight.outcome or self._late(slot, flight, now, later, loop)
            pending = again
        return results  # type: ignore[return-value]

    def _late(self, slot: Slot, flight: Flight, started: float, now: float, loop: object) -> Observation:
        """The probe's deadline came before the call it waited on ended."""
        check = slot.check
        if flight.settled:
            output = "interrupted: the call was cancelled before it ended"
        elif flight.started < started:
            output = (
                f"timed out after {seconds(now - started)}; "
                f"still running from an earlier call started {seconds(now - flight.started)} ago"
            )
        elif check.timeout > self.deadline:
            output = f"timed out after {seconds(self.deadline)} (the probe's deadline)"
        else:
            output = f"timed out after {seconds(check.timeout)}"
        late = Observation(check, Status.FAIL, flight.wall, now - started, output=output, timed_out=True)
        # Not a call's outcome: damping shows it as it would a failed call, without counting it.
        late = slot.damped(late, now, loop)
        slot.track(late, now, loop)
        return late

    def _changed(self, status: Status, observations: list[Observation], now: float) -> None:
        old = self._overall
        loop = native_loop()
        lasted = None if old is None or self._overall_loop is not loop else now - self._overall_since
        self._overall = status
        self._overall_since = now
        self._overall_loop = loop
        failing = [obs.check.name for obs in observations if obs.status is not Status.PASS]
        output = f"not passing: {', '.join(failing)}" if failing else None
        self._events.emit(StatusChange(None, old, status, lasted, output, probe=self._probe))


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
