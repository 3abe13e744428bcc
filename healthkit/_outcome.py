"""CheckReport: one check's outcome as a probe reports it. Safe by construction: every string in
it was redacted and cut when the result came in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from ._check import Check
from ._status import Status

__all__ = ["CheckReport", "new_check_report"]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What one check reported in a run.

    ``status`` is as reported, after flap damping. ``output`` (shown for warn and fail),
    ``observed_value``, ``observed_unit`` and ``affected_endpoints`` come from the check's
    ``Result``, redacted. ``time`` is when the call started (UTC), ``duration`` how long it took
    in seconds, ``age`` how many seconds ago it ended when the result was served again (from the
    cache or the background refresh; ``None`` for a call made for this run). ``error_id`` names
    the exception a failed call raised (the server's log has it in full); ``timed_out`` says the
    call was cut at its timeout or the probe's deadline.
    """

    check: Check = field(repr=False)
    status: Status
    time: datetime
    duration: float
    output: str | None = None
    observed_value: Any = None
    observed_unit: str | None = None
    affected_endpoints: tuple[str, ...] = ()
    error_id: str | None = None
    age: float | None = None
    timed_out: bool = False
    #: The record of the call this one serves again (itself when None); renderers key on it.
    origin: CheckReport | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def critical(self) -> bool:
        return self.check.critical

    @property
    def component_type(self) -> str | None:
        return self.check.component_type

    @property
    def component_id(self) -> str | None:
        return self.check.component_id

    @property
    def links(self) -> Mapping[str, str] | None:
        return self.check.links

    def aged(self, age: float) -> CheckReport:
        """This outcome served again, ``age`` seconds after its call ended."""
        return new_check_report(
            self.check,
            self.status,
            self.time,
            self.duration,
            self.output,
            self.observed_value,
            self.observed_unit,
            self.affected_endpoints,
            self.error_id,
            age,
            self.timed_out,
            self.origin or self,
        )


_SETTERS = tuple(getattr(CheckReport, f.name).__set__ for f in fields(CheckReport))


def new_check_report(
    check: Check,
    status: Status,
    time: datetime,
    duration: float,
    output: str | None = None,
    observed_value: Any = None,
    observed_unit: str | None = None,
    affected_endpoints: tuple[str, ...] = (),
    error_id: str | None = None,
    age: float | None = None,
    timed_out: bool = False,
    origin: CheckReport | None = None,
) -> CheckReport:
    """A CheckReport, as made on the probe path (every served result, every call): the slots
    are filled directly, twice as fast as the frozen dataclass's __init__."""
    report: CheckReport = object.__new__(CheckReport)
    s = _SETTERS
    s[0](report, check)
    s[1](report, status)
    s[2](report, time)
    s[3](report, duration)
    s[4](report, output)
    s[5](report, observed_value)
    s[6](report, observed_unit)
    s[7](report, affected_endpoints)
    s[8](report, error_id)
    s[9](report, age)
    s[10](report, timed_out)
    s[11](report, origin)
    return report
