"""Warn and fail thresholds, shared by the catalog's checks."""

from __future__ import annotations

import math

from healthkit import Result, Status


def require_levels(what: str, warn_at: float | None, fail_at: float | None) -> None:
    """Raise unless the thresholds are numbers, and warn comes before fail."""
    for name, value in (("warn_at", warn_at), ("fail_at", fail_at)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            msg = f"{what}: {name} must be a finite number or None, got {value!r}"
            raise ValueError(msg)
    if warn_at is not None and fail_at is not None and warn_at > fail_at:
        msg = f"{what}: warn_at ({warn_at}) must not be above fail_at ({fail_at})"
        raise ValueError(msg)


def judge(value: float, unit: str, *, warn_at: float | None, fail_at: float | None, what: str) -> Result:
    """A Result for a measurement: fail at or above ``fail_at``, warn at or above ``warn_at``."""
    shown = round(value, 3)
    if fail_at is not None and value >= fail_at:
        return Result(
            Status.FAIL,
            output=f"{what} {shown} {unit}, at or above {fail_at}",
            observed_value=shown,
            observed_unit=unit,
        )
    if warn_at is not None and value >= warn_at:
        return Result(
            Status.WARN,
            output=f"{what} {shown} {unit}, at or above {warn_at}",
            observed_value=shown,
            observed_unit=unit,
        )
    return Result(Status.PASS, observed_value=shown, observed_unit=unit)
