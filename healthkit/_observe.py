"""Observers: what metrics, traces and logs are built on. Every call of a check that ends and
every probe answered reach each registered observer; one that raises is logged once and never
changes an answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from ._report import Report
from ._status import Status

__all__ = ["CallEnded", "Observer", "Observers", "ProbeAnswered"]

_log = logging.getLogger("healthkit")


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A call of a check ended (a cached or background answer served again is not a call).

    ``status`` is as reported (after flap damping); ``duration`` in seconds; ``error_id`` names
    the exception it raised, if any; ``timed_out``: cut at its timeout or a probe's deadline;
    ``waiters``: how many probes were waiting on it when it ended (more than one: shared).
    """

    check: str
    status: Status
    duration: float
    error_id: str | None
    timed_out: bool
    waiters: int


@dataclass(frozen=True, slots=True)
class ProbeAnswered:
    """An endpoint answered an HTTP probe: ``duration`` seconds from the request to the answer."""

    endpoint: str
    status: Status
    status_code: int
    duration: float
    report: Report


class Observer(Protocol):
    """Receives every call that ends and every probe answered. Runs on the event loop, so it
    must be quick and must not block; an exception in it is logged once and ignored."""

    def call_ended(self, event: CallEnded) -> None: ...

    def probe_answered(self, event: ProbeAnswered) -> None: ...


class Observers:
    """The registered observers, each isolated from the others and from the probe."""

    __slots__ = ("_failed", "_observers")

    def __init__(self) -> None:
        self._observers: list[Observer] = []
        self._failed: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self._observers)

    def add(self, observer: Observer) -> None:
        missing = [
            name for name in ("call_ended", "probe_answered") if not callable(getattr(observer, name, None))
        ]
        if missing:
            lacks = ", ".join(missing)
            msg = f"An observer needs the methods call_ended and probe_answered; {observer!r} lacks {lacks}"
            raise TypeError(msg)
        self._observers.append(observer)

    def call_ended(self, event: CallEnded) -> None:
        for observer in self._observers:
            try:
                observer.call_ended(event)
            except Exception:
                self._failed_once(observer)

    def probe_answered(self, event: ProbeAnswered) -> None:
        for observer in self._observers:
            try:
                observer.probe_answered(event)
            except Exception:
                self._failed_once(observer)

    def _failed_once(self, observer: Observer) -> None:
        if id(observer) not in self._failed:
            self._failed.add(id(observer))
            _log.exception("Observer %r failed; it is ignored (logged once)", observer)
