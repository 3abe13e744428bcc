"""Flap damping: how raw outcomes of one check become the statuses it reports."""

from __future__ import annotations

import dataclasses

from ._check import Check
from ._report import Observation
from ._status import Status

__all__ = ["Damper"]


class Damper:
    """Holds one check's streaks. Fail is reported only after ``failure_threshold`` failures in a
    row lasting ``max_time_in_error``; until then the failure shows as warn. After a reported
    fail, pass (or warn) is reported only after ``success_threshold`` successes in a row."""

    __slots__ = ("_check", "_failing_loop", "_failing_since", "_fails", "_passes", "_reported")

    def __init__(self, check: Check) -> None:
        self._check = check
        self._reported: Status | None = None
        self._fails = 0
        self._passes = 0
        self._failing_since = 0.0
        self._failing_loop: object = None  # clocks differ between event loops

    def apply(self, raw: Observation, now: float, loop: object) -> Observation:
        """The observation to report for ``raw``, a call that ended at ``now`` (loop clock)."""
        reported, state = self._judge(raw, now, loop)
        self._reported, self._fails, self._passes, self._failing_since, self._failing_loop = state
        return reported

    def preview(self, outcome: Observation, now: float, loop: object) -> Observation:
        """How ``outcome`` would be reported, without counting it as a call."""
        return self._judge(outcome, now, loop)[0]

    def _judge(
        self, raw: Observation, now: float, loop: object
    ) -> tuple[Observation, tuple[Status, int, int, float, object]]:
        check = self._check
        fails, passes, since, since_loop = self._fails, self._passes, self._failing_since, self._failing_loop
        if raw.status is Status.FAIL:
            passes = 0
            if fails == 0 or since_loop is not loop:
                since, since_loop = now, loop
            fails += 1
            if self._reported is Status.FAIL or (
                fails >= check.failure_threshold and now - since >= check.max_time_in_error
            ):
                return raw, (Status.FAIL, fails, passes, since, since_loop)
            due = [f"{check.failure_threshold} in a row"] if check.failure_threshold > 1 else []
            if check.max_time_in_error:
                due.append(f"{check.max_time_in_error:g}s in error")
            note = f"failed {fails} in a row (fail after {' and '.join(due)})"
            return _with(raw, Status.WARN, note), (Status.WARN, fails, passes, since, since_loop)
        fails = 0
        if self._reported is Status.FAIL:
            passes += 1
            if passes < check.success_threshold:
                note = (
                    f"recovering: {raw.status.value} {passes} in a row "
                    f"({raw.status.value} after {check.success_threshold})"
                )
                return _with(raw, Status.FAIL, note), (Status.FAIL, fails, passes, since, since_loop)
        return raw, (raw.status, fails, 0, since, since_loop)


def _with(raw: Observation, status: Status, note: str) -> Observation:
    output = f"{raw.output}; {note}" if raw.output else note
    return dataclasses.replace(raw, status=status, output=output)
