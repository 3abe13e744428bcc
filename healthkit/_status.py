"""The three statuses of the health+json draft, their order, and the draft's aliases."""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["Status", "worst"]

# The draft accepts these spellings on input: "ok"/"up" (Terminus, Spring Boot) for pass,
# "error"/"down" for fail, all case-insensitive. Output always uses pass/warn/fail.
_ALIASES = {"ok": "pass", "up": "pass", "error": "fail", "down": "fail"}


class Status(enum.StrEnum):
    """A health status: ``pass``, ``warn`` (healthy with concerns) or ``fail``.

    ``Status("UP")`` and ``Status("down")`` parse the draft's aliases, case-insensitively.
    Statuses order by severity: ``Status.PASS < Status.WARN < Status.FAIL``.
    """

    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"
    FAIL = "fail"

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        if isinstance(value, str):
            folded = value.strip().lower()
            folded = _ALIASES.get(folded, folded)
            for member in cls:
                if member.value == folded:
                    return member
        msg = f"{value!r} is not a health status; use pass, warn or fail (aliases: ok, up, error, down)"
        raise ValueError(msg)

    @property
    def severity(self) -> int:
        """0 for pass, 1 for warn, 2 for fail."""
        return _SEVERITY[self]

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Status):
            return _SEVERITY[self] < _SEVERITY[other]
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Status):
            return _SEVERITY[self] <= _SEVERITY[other]
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Status):
            return _SEVERITY[self] > _SEVERITY[other]
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Status):
            return _SEVERITY[self] >= _SEVERITY[other]
        return NotImplemented


_SEVERITY = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status of ``statuses``; pass when there are none."""
    result = Status.PASS
    for status in statuses:
        if _SEVERITY[status] > _SEVERITY[result]:
            result = status
            if result is Status.FAIL:
                break
    return result
