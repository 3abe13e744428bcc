"""One endpoint's checks: gather their outcomes within the deadline, aggregate, note changes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import anyio

from ._check import Check
from ._events import Events, StatusChange
from ._loops import AnyioLoop, Loop, loop_identity, trio_token
from ._outcome import CheckReport
from ._report import CheckReports
from ._state import CheckState, SharedCall
from ._status import Status, worst

__all__ = ["Selection", "gather"]

_NEVER = -math.inf


async def gather(
    states: Sequence[CheckState], loop: Loop, deadline: float, not_running: Callable[[Check, float], str]
) -> CheckReports:
    """One report per state, in order, within ``deadline`` seconds: the one gather."""
    now = loop.time()
    until = now + deadline
    records: list[CheckReport | None] = []
    ages: list[float | None] = []
    pending: list[tuple[int, CheckState, SharedCall]] = []
    served = False
    fresh = math.inf  # until when every result served again stays so; -inf: not all were served
    try:
        for state in states:
            got = state.observe(loop, now, until, not_running)
            if type(got) is SharedCall:
                pending.append((len(records), state, got))
                records.append(None)
                ages.append(None)
                fresh = _NEVER
            elif got is state.latest:  # served again: its age, not a copy
                records.append(got)
                at = state.latest_at
                ages.append(now - at)
                served = True
                if at + state.fresh_for < fresh:
                    fresh = at + state.fresh_for
            else:
                records.append(got)  # type: ignore[arg-type]
                ages.append(None)
                fresh = _NEVER
    except BaseException:
        for _, _, call in pending:
            call.leave(cancelled=True)  # joined before the failure: nobody waits on them now
        raise
    retried: set[int] = set()
    while pending:
        calls = [call for _, _, call in pending]
        try:
            await loop.wait(calls, until)
        except BaseException:
            for call in calls:
                call.leave(cancelled=True)  # the last probe to go cancels the call
            raise
        later = loop.time()
        again: list[tuple[int, CheckState, SharedCall]] = []
        for index, state, call in pending:
            call.leave(cancelled=False)
            if (
                call.settled
                and call.outcome is None
                and not call.stopped
                and later < until
                and index not in retried
            ):
                # The call was cancelled under this probe (the probe that owned it went away):
                # make a call of its own in the time left.
                retried.add(index)
                got = state.observe(loop, later, until, not_running)
                if type(got) is SharedCall:
                    again.append((index, state, got))
                    continue
                if got is state.latest:
                    ages[index] = later - state.latest_at
                    served = True
                records[index] = got  # type: ignore[assignment]
            else:
                records[index] = state.outcome(call, now, later, deadline)
        pending = again
    kept_until = None if fresh == _NEVER else fresh
    return CheckReports(records, ages if served else None, kept_until)  # type: ignore[arg-type]


class Selection:
    """The checks one endpoint runs, its deadline, and its overall status as listeners heard it.

    ``warn_only`` names checks whose failure only degrades this endpoint (as if not critical).
    """

    def __init__(
        self,
        name: str,
        states: Sequence[CheckState],
        *,
        deadline: float,
        events: Events,
        warn_only: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.states = tuple(states)
        self.by_name = {state.check.name: state for state in self.states}
        self.deadline = deadline
        self._events = events
        self._warn_only = warn_only
        self._overall: Status | None = None
        self._overall_since: float | None = None
        self._overall_loop: object = None
        self._probes = 0  # probes started: numbers each probe's snapshot
        self._applied = 0  # the newest snapshot applied to the overall status

    async def run(
        self,
        loop: Loop | None,
        not_running: Callable[[Check, float], str],
        states: Sequence[CheckState] | None = None,
        deadline: float | None = None,
    ) -> tuple[Status, CheckReports]:
        """The overall status and one report per check, in registration order. ``states`` runs a
        subset (an exclusion, one check): its status is not this endpoint's. Without a ``loop``
        (trio, no lifespan) calls run in a task group of this probe's, cut at its deadline."""
        self._probes += 1
        snapshot = self._probes
        selected = self.states if states is None else states
        limit = self.deadline if deadline is None else deadline  # what is left of it
        if not selected:
            reports = CheckReports((), fresh_until=math.inf)
        elif loop is not None:
            reports = await gather(selected, loop, limit, not_running)
        else:
            async with anyio.create_task_group() as group:
                own = AnyioLoop(group, trio_token(), detached=False)
                reports = await gather(selected, own, limit, not_running)
        status = Status.PASS
        for report in reports.records:
            if report.status is not Status.PASS:
                status = worst((status, self.contribution(report)))
        # Concurrent probes may end out of order: an older snapshot never overrides a newer one.
        if states is None and snapshot > self._applied:
            self._applied = snapshot
            if status is not self._overall:
                self._changed(status, reports, anyio.current_time(), loop_identity())
        return status, reports

    def contribution(self, report: CheckReport) -> Status:
        """What an outcome adds to this endpoint's status: a non-critical failure only warns."""
        if report.status is Status.FAIL and (
            not report.check.critical or report.check.name in self._warn_only
        ):
            return Status.WARN
        return report.status

    def _changed(self, status: Status, reports: CheckReports, now: float, loop: object) -> None:
        old, since = self._overall, self._overall_since
        lasted = None if old is None or since is None or self._overall_loop is not loop else now - since
        self._overall, self._overall_since, self._overall_loop = status, now, loop
        failing = [report.check.name for report in reports.records if report.status is not Status.PASS]
        output = f"not passing: {', '.join(failing)}" if failing else None
        self._events.emit(StatusChange(None, old, status, lasted, output, probe=self.name))
