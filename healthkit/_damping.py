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

    __slots__ = ("_check", "_failing_since", "_fails", "_passes", "_reported")

    def __init__(self, check: Check) -> None:
        self._check = check
        self._reported: Status | None = None
        self._fails = 0
        self._passes = 0
        self._failing_since = 0.0

    def apply(self, raw: Observation, now: float) -> Observation:
        """The observation to report for ``raw``, a call that ended at ``now`` (loop clock)."""
        check = self._check
        if raw.status is Status.FAIL:
            self._passes = 0
            if self._fails == 0:
                self._failing_since = now
            self._fails += 1
            failing_for = now - self._failing_since
            if self._reported is Status.FAIL or (
                self._fails >= check.failure_threshold and failing_for >= check.max_time_in_error
            ):
                return self._report(raw)
            due = [f"{check.failure_threshold} in a row"] if check.failure_threshold > 1 else []
            if check.max_time_in_error:
                due.append(f"{check.max_time_in_error:g}s in error")
            note = f"failed {self._fails} in a row (fail after {' and '.join(due)})"
            return self._report(_with(raw, Status.WARN, note))
        self._fails = 0
        if self._reported is Status.FAIL:
            self._passes += 1
            if self._passes < check.success_threshold:
                note = (
                    f"recovering: {raw.status.value} {self._passes} in a row "
                    f"({raw.status.value} after {check.success_threshold})"
                )
                return self._report(_with(raw, Status.FAIL, note))
        self._passes = 0
        return self._report(raw)

    def _report(self, observation: Observation) -> Observation:
        self._reported = observation.status
        return observation


def _with(raw: Observation, status: Status, note: str) -> Observation:
    output = f"{raw.output}; {note}" if raw.output else note
    return dataclasses.replace(raw, status=status, output=output)
