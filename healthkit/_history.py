"""History: the recent status changes of each check and of /health's overall status, in memory.

Built on the status-change events listeners get (``health.on_change``): one ``Change`` per change,
the newest last, at most ``HISTORY_SIZE`` per check. The checks of a ``Health`` are fixed when it
is built, so the whole history is bounded: (checks + 1) x ``HISTORY_SIZE`` changes, each output
already redacted and cut to 1024 characters when its result came in.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from ._events import Events, StatusChange
from ._status import Status

__all__ = ["HISTORY_SIZE", "Change", "History"]

#: Status changes kept per check (and for the overall status).
HISTORY_SIZE = 20


class Change:
    """A status a check (or the overall status) took: ``since`` when (UTC), with ``output``.
    When the next change comes, ``until`` is when it did and ``held`` how many seconds this
    status held; both are None while it still holds."""

    __slots__ = ("at", "held", "output", "rendered", "since", "status", "until")

    def __init__(self, status: Status, since: datetime, at: float, output: str | None) -> None:
        self.status = status
        self.since = since
        self.at = at  # the monotonic clock's, for durations a change of the wall clock cannot skew
        self.output = output
        self.until: datetime | None = None
        self.held: float | None = None
        #: What a renderer made of a change that has ended (it no longer changes), and for when.
        self.rendered: tuple[object, str] | None = None


class History:
    """The last ``size`` changes of each check and of the overall status of ``probe``.

    ``History(events)`` listens to ``events`` from then on. ``changes(name)`` gives a check's
    changes (``None``: the overall status), the newest first; ``held(change)`` how long a
    change's status held, or has held so far.
    """

    __slots__ = ("_changes", "_clock", "_now", "probe", "size")

    def __init__(
        self,
        events: Events,
        *,
        probe: str = "health",
        size: int = HISTORY_SIZE,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.probe = probe
        self.size = size
        self._clock = clock
        self._now = now
        self._changes: dict[str | None, deque[Change]] = {}
        events.subscribe(self.record)

    def record(self, change: StatusChange) -> None:
        """A listener: note ``change`` (other endpoints' overall statuses are not kept)."""
        if change.check is None and change.probe != self.probe:
            return
        kept = self._changes.get(change.check)
        if kept is None:
            kept = self._changes[change.check] = deque(maxlen=self.size)
        since, at = self._now(), self._clock()
        if kept:
            last = kept[-1]
            last.until, last.held = since, max(0.0, at - last.at)
        kept.append(Change(change.new, since, at, change.output))

    def changes(self, name: str | None) -> list[Change]:
        """``name``'s changes, the newest first (``None``: the overall status's)."""
        kept = self._changes.get(name)
        return list(reversed(kept)) if kept else []

    def held(self, change: Change) -> float:
        """Seconds ``change``'s status held, or has held so far."""
        return change.held if change.held is not None else max(0.0, self._clock() - change.at)
