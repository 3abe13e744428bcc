"""Status changes: what listeners receive and what healthkit logs (transitions, not every probe)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ._status import Status
from ._text import seconds

__all__ = ["Changes", "Events", "Listener", "StatusChange", "log_fields"]

_log = logging.getLogger("healthkit")
_LEVELS = {Status.PASS: logging.INFO, Status.WARN: logging.WARNING, Status.FAIL: logging.ERROR}
#: The id a failure's output ends with (``_state.CheckState._identify``); damping may add text after it.
_ERROR_ID = re.compile(r"\(error id ([0-9a-f]{6})\)")


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A check's reported status, or the overall status, changed.

    ``check`` is the check's name, or ``None`` for an endpoint's overall status, and then
    ``probe`` names the endpoint (``"health"``, ``"livez"``, ``"readyz"``, ``"startupz"``).
    ``old`` is ``None`` the first time a status is known. ``lasted`` is how many seconds the old
    status held (``None`` with no old status). ``output`` is the new status's output.
    """

    check: str | None
    old: Status | None
    new: Status
    lasted: float | None
    output: str | None = None
    probe: str | None = None


Listener = Callable[[StatusChange], None]


def log_fields(change: StatusChange) -> dict[str, object]:
    """The change as fields of its log record (``extra``), so that a JSON formatter emits them:
    ``check`` (``None`` for an overall status), ``endpoint`` (the probe of an overall status),
    ``status``, ``previous_status`` (``None`` the first time), ``lasted`` (seconds the previous
    status held) and ``error_id`` (of the failure that caused it, if any)."""
    error_id = None
    if change.output and "(error id " in change.output:
        # The last one: an exposed exception message before it could hold the same words.
        found = _ERROR_ID.findall(change.output)
        error_id = found[-1] if found else None
    return {
        "check": change.check,
        "endpoint": (change.probe or "health") if change.check is None else None,
        "status": change.new.value,
        "previous_status": None if change.old is None else change.old.value,
        "lasted": change.lasted,
        "error_id": error_id,
    }


class Changes:
    """A count of everything that can change an endpoint's answer between probes: a check's
    latest result (a call landing, a new event loop) and the lifecycle (startup, manual
    readiness, the drain). An answer made at one count holds, as long as its results are fresh,
    until the count moves: the endpoint serves it again without running anything."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def note(self) -> None:
        """Something changed: answers made before now no longer hold."""
        self.count += 1


class Events:
    """Delivers status changes to listeners and to the ``healthkit`` logger."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        if not callable(listener):
            msg = f"A status listener must be a callable taking a StatusChange, got {listener!r}"
            raise TypeError(msg)
        self._listeners.append(listener)

    def emit(self, change: StatusChange, error: BaseException | None = None) -> None:
        what = (
            f"Check {change.check!r}" if change.check is not None else f"Overall {change.probe or 'health'}"
        )
        args: list[object]
        if change.old is None:
            message, args = "%s is %s", [what, change.new.value]
        else:
            message = "%s changed from %s to %s after %s"
            args = [what, change.old.value, change.new.value, seconds(change.lasted or 0.0)]
        if change.output:
            message += ": %s"
            args.append(change.output)
        _log.log(_LEVELS[change.new], message, *args, exc_info=error, extra=log_fields(change))
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                _log.exception("Status listener %r failed on %r", listener, change)
