"""History: the recent status changes of each check and of /health's overall status, in memory.

Built on the status-change events listeners get (``health.on_change``): one ``Change`` per change,
the newest last, at most ``HISTORY_SIZE`` per check. The checks of a ``Health`` are fixed when it
is built, so the whole history is bounded: (checks + 1) x ``HISTORY_SIZE`` changes, each output
already redacted and cut to 1024 characters when its result came in.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ._events import Events, StatusChange
from ._status import Status

__all__ = ["HISTORY_SIZE", "Change", "History"]

#: Status changes kept per check (and for the overall status).
HISTORY_SIZE = 20


class Change:
    """A status a check (or the overall status) took: ``since`` when (UTC), ``output`` its output."""

    __slots__ = ("at", "output", "since", "status")

    def __init__(self, status: Status, since: datetime, at: float, output: str | None) -> None:
        self.status = status
        self.since = since
        self.at = at  # the monotonic clock's, for durations a change of the wall clock cannot skew
        self.output = output


class History:
    """The last ``size`` changes of each check and of the overall status of ``probe``.

    ``History(events)`` listens to ``events`` from then on. ``changes(name)`` gives a check's
    changes (``None``: the overall status), the newest first, each with how long its status
    held: until the next change, or until now for the status that still holds.
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
        kept.append(Change(change.new, self._now(), self._clock(), change.output))

    def changes(self, name: str | None) -> Sequence[tuple[Change, float, datetime | None]]:
        """``name``'s changes, the newest first: (change, seconds its status held, when it ended
        or ``None`` while it holds)."""
        kept = self._changes.get(name)
        if not kept:
            return ()
        now = self._clock()
        out: list[tuple[Change, float, datetime | None]] = []
        later: Change | None = None
        for change in reversed(kept):
            if later is None:
                out.append((change, max(0.0, now - change.at), None))
            else:
                out.append((change, max(0.0, later.at - change.at), later.since))
            later = change
        return out
