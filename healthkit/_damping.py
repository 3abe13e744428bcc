"""Flap damping: how raw outcomes of one check become the statuses it reports."""

from __future__ import annotations

import dataclasses

from ._check import Check
from ._outcome import CheckReport
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
        self._failing_since: float | None = None  # loop clock; None: unknown on this loop

    def rebind(self) -> None:
        """A new event loop: its clock is not the old one's, so time in error starts again."""
        self._failing_since = None

    def apply(self, raw: CheckReport, now: float) -> CheckReport:
        """The report for ``raw``, a call that ended at ``now`` (loop clock)."""
        reported, state = self._judge(raw, now)
        self._reported, self._fails, self._passes, self._failing_since = state
        return reported

    def preview(self, outcome: CheckReport, now: float) -> CheckReport:
        """How ``outcome`` would be reported, without counting it as a call."""
        return self._judge(outcome, now)[0]

    def _judge(
        self, raw: CheckReport, now: float
    ) -> tuple[CheckReport, tuple[Status, int, int, float | None]]:
        check = self._check
        fails, passes, since = self._fails, self._passes, self._failing_since
        if raw.status is Status.FAIL:
            passes = 0
            if fails == 0 or since is None:
                since = now
            fails += 1
            if self._reported is Status.FAIL or (
                fails >= check.failure_threshold and now - since >= check.max_time_in_error
            ):
                return raw, (Status.FAIL, fails, passes, since)
            due = [f"{check.failure_threshold} in a row"] if check.failure_threshold > 1 else []
            if check.max_time_in_error:
                due.append(f"{check.max_time_in_error:g}s in error")
            note = f"failed {fails} in a row (fail after {' and '.join(due)})"
            return _with(raw, Status.WARN, note), (Status.WARN, fails, passes, since)
        fails = 0
        if self._reported is Status.FAIL:
            passes += 1
            if passes < check.success_threshold:
                note = (
                    f"recovering: {raw.status.value} {passes} in a row "
                    f"({raw.status.value} after {check.success_threshold})"
                )
                return _with(raw, Status.FAIL, note), (Status.FAIL, fails, passes, since)
        return raw, (raw.status, fails, 0, since)


def _with(raw: CheckReport, status: Status, note: str) -> CheckReport:
    output = f"{raw.output}; {note}" if raw.output else note
    return dataclasses.replace(raw, status=status, output=output)
