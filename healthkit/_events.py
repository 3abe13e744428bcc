"""Status changes: what listeners receive and what healthkit logs (transitions, not every probe)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ._status import Status
from ._text import seconds

__all__ = ["Events", "Listener", "StatusChange"]

_log = logging.getLogger("healthkit")
_LEVELS = {Status.PASS: logging.INFO, Status.WARN: logging.WARNING, Status.FAIL: logging.ERROR}


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
        _log.log(_LEVELS[change.new], message, *args, exc_info=error)
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                _log.exception("Status listener %r failed on %r", listener, change)
