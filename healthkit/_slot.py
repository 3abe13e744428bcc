"""Per-check state shared by every request: the latest outcome, the call in flight, streaks."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from ._call import ThreadRun, seconds
from ._check import Check
from ._damping import Damper
from ._events import Events, StatusChange
from ._redact import Redactor
from ._report import Observation, clip
from ._status import Status

__all__ = ["Flight", "Slot"]

_log = logging.getLogger("healthkit")
_LEVELS = {Status.PASS: logging.INFO, Status.WARN: logging.WARNING, Status.FAIL: logging.ERROR}

#: A call that takes this share of its timeout or more is logged as slow (once, until it is fast).
SLOW_SHARE = 0.8


class Flight:
    """One call of a check in progress; every probe that wants the check meanwhile waits on it."""

    __slots__ = ("_waiters", "cancel", "expired", "loop", "outcome", "settled", "started", "stopping", "wall")

    def __init__(self, started: float, wall: datetime, loop: object) -> None:
        self.started = started  # loop clock
        self.wall = wall
        self.loop = loop  # the event loop it runs on (asyncio's loop, trio's token)
        self.outcome: Observation | None = None  # None once settled: the call was abandoned
        self.settled = False
        self.expired = False  # its timeout passed (asyncio: it may ignore the cancellation)
        self.stopping = False  # cancelled by the end of the lifespan
        self.cancel: Callable[[], object] | None = None
        self._waiters: list[Callable[[], None]] = []

    def subscribe(self, waiter: Callable[[], None]) -> None:
        self._waiters.append(waiter)

    def unsubscribe(self, waiter: Callable[[], None]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    def settle(self, outcome: Observation | None) -> None:
        self.settled = True
        self.outcome = outcome
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter()


class Slot:
    """A registered check as a Health runs it."""

    __slots__ = (
        "background",
        "check",
        "damper",
        "error_id",
        "error_key",
        "events",
        "expose_errors",
        "flight",
        "jitter",
        "latest",
        "latest_at",
        "latest_loop",
        "max_age",
        "redact",
        "reported",
        "reported_loop",
        "reported_since",
        "slow",
        "stale",
        "thread_run",
        "ttl",
    )

    def __init__(
        self,
        check: Check,
        *,
        ttl: float,
        events: Events,
        expose_errors: bool = False,
        redact: Redactor | None = None,
    ) -> None:
        self.check = check
        self.redact = redact or Redactor()
        self.expose_errors = expose_errors
        self.error_key: tuple[type[BaseException], str] | None = None
        self.error_id = ""
        self.ttl = ttl
        self.stale = check.stale_while_revalidate
        self.background = check.refresh_every is not None
        interval = check.refresh_every or 0.0
        self.jitter = check.refresh_jitter if check.refresh_jitter is not None else interval / 10
        self.max_age = (
            check.max_age if check.max_age is not None else 2 * interval + self.jitter + check.timeout
        )
        damped = check.failure_threshold > 1 or check.success_threshold > 1 or check.max_time_in_error > 0
        self.damper = Damper(check) if damped else None
        self.events = events
        self.latest: Observation | None = None
        self.latest_at = 0.0  # loop clock
        self.latest_loop: object = None  # clocks differ between event loops (trio's is offset)
        self.flight: Flight | None = None
        self.thread_run: ThreadRun | None = None
        self.reported: Status | None = None
        self.reported_since = 0.0
        self.reported_loop: object = None
        self.slow = False

    def current_flight(self, loop: object) -> Flight | None:
        """The call in flight on this event loop. One left by a loop that is gone (a test client
        runs each request on a new loop) can never end: forget it."""
        flight = self.flight
        if flight is not None and flight.loop is not loop:
            self.flight = flight = None
        return flight

    def complete(self, flight: Flight, raw: Observation, now: float) -> None:
        """A call ended at ``now`` with ``raw``: damp it, keep it, tell whoever waits."""
        if self.flight is flight:
            self.flight = None
        error, new_error = raw.error, False
        if error is not None:
            raw, new_error = self._identify(raw, error)
        else:
            self.error_key = None
        reported = self.damper.apply(raw, now, flight.loop) if self.damper is not None else raw
        self.latest = reported
        self.latest_at = now
        self.latest_loop = flight.loop
        changed = self.track(reported, now, flight.loop, error if new_error else None)
        if error is not None and not (changed and new_error):
            # Each distinct error is logged in full once, with its id; repeats at debug level.
            level = _LEVELS[reported.status] if new_error else logging.DEBUG
            _log.log(
                level, "Check %r failed: %s", self.check.name, self.redact(raw.output or ""), exc_info=error
            )
        if not raw.timed_out:
            self._note_speed(raw)
        flight.settle(reported)

    def abandon(self, flight: Flight) -> None:
        """The call was cancelled from outside before it ended: nothing to keep."""
        if self.flight is flight:
            self.flight = None
        flight.settle(None)

    def damped(self, outcome: Observation, now: float, loop: object) -> Observation:
        """An outcome that is not a call's (a probe's deadline came first), as damping shows it."""
        return self.damper.preview(outcome, now, loop) if self.damper is not None else outcome

    def _identify(self, raw: Observation, error: BaseException) -> tuple[Observation, bool]:
        """Give a failure its error id: a new one for an error unlike the last (True), the same
        one while the same error repeats. The id joins the public output and the log record."""
        try:
            text = str(error)
        except Exception:
            text = "(its text could not be read)"
        # Text the document can carry: no lone surrogates.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        key = (type(error), text)
        new = key != self.error_key
        if new:
            self.error_key = key
            self.error_id = secrets.token_hex(3)
        what = type(error).__name__
        if self.expose_errors and text:
            what = f"{what}: {clip(self.redact(text), 512)}"  # masked before it is cut
        return dataclasses.replace(raw, output=f"{what} (error id {self.error_id})"), new

    def track(
        self, reported: Observation, now: float, loop: object, error: BaseException | None = None
    ) -> bool:
        """Note the status this check reports now: listeners and the log hear of changes (the
        log record carries ``error`` when given). True when the status changed."""
        status = reported.status
        if status is self.reported:
            return False
        old = self.reported
        lasted = None if old is None or self.reported_loop is not loop else now - self.reported_since
        self.reported, self.reported_since, self.reported_loop = status, now, loop
        output = None if reported.output is None else self.redact(reported.output)
        self.events.emit(StatusChange(self.check.name, old, status, lasted, output), error)
        return True

    def _note_speed(self, raw: Observation) -> None:
        check = self.check
        slow = SLOW_SHARE * check.timeout <= raw.duration < check.timeout
        if slow and not self.slow:
            _log.warning(
                "Check %r is slow: it took %s of its %s timeout",
                check.name,
                seconds(raw.duration),
                seconds(check.timeout),
            )
        self.slow = slow
