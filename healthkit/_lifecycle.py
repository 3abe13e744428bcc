"""The service's lifecycle as the probes see it: startup, manual readiness, the drain on SIGTERM.

The drain: on SIGTERM readiness fails at once while the server keeps serving, so load balancers
and the kubelet take the replica out of rotation before it stops; after ``drain_delay`` the
server is told to stop as it normally would. Servers learn of signals in two ways:

- uvicorn installs plain ``signal.signal`` handlers before the app's lifespan starts. While the
  lifespan runs, healthkit puts its own handlers in front of them: it holds SIGTERM back for the
  drain, then hands it on. A second SIGTERM or a SIGINT during the drain is handed on at once,
  together with the first, so the server stops as it would have without healthkit.
- hypercorn (asyncio or trio) takes an awaitable that decides when to shut down:
  ``serve(app, config, shutdown_trigger=health.shutdown_trigger)``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import anyio

from ._events import Changes
from ._loops import asyncio_loop
from ._text import seconds

__all__ = ["Lifecycle"]

_log = logging.getLogger("healthkit")
Handler = Callable[[int, FrameType | None], Any]


class Lifecycle:
    """Startup, manual readiness and the drain, shared by one Health's probes."""

    def __init__(self, *, drain_delay: float | None, changes: Changes | None = None) -> None:
        self.drain_delay = drain_delay
        self.changes = changes if changes is not None else Changes()
        self._started = False
        self.ready = True
        self.reason: str | None = None
        self._drain_ends: float | None = None  # time.monotonic() when the server is told to stop
        self._previous: dict[int, Handler] = {}
        self._pending: list[tuple[int, FrameType | None]] = []
        self._handed_on = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` when manual readiness or the drain changes. It may be called from
        any thread, and from a signal handler: it must only note the change (as
        ``loop.call_soon_threadsafe`` does) and never raise."""
        self._listeners.append(listener)

    @property
    def started(self) -> bool:
        """The startup checks have passed once (or there are none)."""
        return self._started

    @started.setter
    def started(self, started: bool) -> None:
        if started is not self._started:
            self._started = started
            self.changes.note()

    def _changed(self) -> None:
        self.changes.note()
        for listener in self._listeners:
            listener()

    def set_ready(self, ready: bool, reason: str | None) -> None:
        self.ready = ready
        self.reason = None if ready else reason
        if ready:
            _log.info("Marked ready")
        else:
            _log.warning("Marked not ready%s", f": {reason}" if reason else "")
        self._changed()

    @property
    def draining(self) -> bool:
        return self._drain_ends is not None

    def not_ready(self) -> str | None:
        """Why readiness must fail now regardless of the checks, or None."""
        if self._drain_ends is not None:
            left = max(self._drain_ends - time.monotonic(), 0.0)
            return f"shutting down: draining, the server stops in {seconds(left)}"
        if not self.ready:
            return f"not ready: {self.reason}" if self.reason else "not ready"
        return None

    def begin_drain(self, signum: int) -> None:
        delay = self.drain_delay or 0.0
        self._drain_ends = time.monotonic() + delay
        _log.warning(
            "%s received: readiness fails from now on; the server is told to stop in %s",
            signal.Signals(signum).name,
            seconds(delay),
        )
        self._changed()

    # --- uvicorn: handlers in front of the server's own, while the lifespan runs ---

    def install(self) -> None:
        """Put the drain in front of the server's SIGTERM handler, if it has a Python one."""
        if not self.drain_delay or threading.current_thread() is not threading.main_thread():
            return
        if asyncio_loop() is None:  # uvicorn runs asyncio only
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if _is_server_handler(previous):
                self._previous[signum] = previous  # type: ignore[assignment]
        if signal.SIGTERM not in self._previous:
            _log.info(
                "No server SIGTERM handler to drain in front of; with hypercorn pass "
                "shutdown_trigger=health.shutdown_trigger to serve()"
            )
            self._previous.clear()
            return
        self._loop = asyncio.get_running_loop()
        for wrapped in self._previous:
            signal.signal(wrapped, self._on_signal)

    def uninstall(self) -> None:
        """Give the server its handlers back and forget this lifespan's drain: a lifespan that
        starts later (a reload, the next test) begins ready."""
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous)
        if self._timer is not None:
            self._timer.cancel()
        self._previous.clear()
        self._pending.clear()
        self._handed_on = False
        draining, self._drain_ends = self._drain_ends is not None, None
        self._loop = None
        self._timer = None
        if draining:
            self._changed()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._handed_on:
            self._previous[signum](signum, frame)
            return
        self._pending.append((signum, frame))
        if len(self._pending) == 1 and signum == signal.SIGTERM:
            self.begin_drain(signum)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._schedule_hand_on)
        else:
            self._hand_on()  # a second signal, or Ctrl-C: stop waiting

    def _schedule_hand_on(self) -> None:
        assert self._loop is not None
        assert self.drain_delay is not None
        self._timer = self._loop.call_later(self.drain_delay, self._hand_on)

    def _hand_on(self) -> None:
        if self._handed_on:
            return
        self._handed_on = True
        if self._timer is not None:
            self._timer.cancel()
        for signum, frame in self._pending:
            self._previous[signum](signum, frame)

    # --- hypercorn: the shutdown trigger ---

    async def shutdown_trigger(self) -> None:
        """Return when the server should shut down: at once on SIGINT, after the drain on SIGTERM."""
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                if signum != signal.SIGTERM or not self.drain_delay:
                    return
                self.begin_drain(signum)
                break
            with anyio.move_on_after(self.drain_delay):
                async for _ in signals:
                    return  # a second signal ends the drain


def _is_server_handler(handler: object) -> bool:
    """A Python handler a server installed (not Python's or asyncio's own)."""
    if not callable(handler) or handler is signal.default_int_handler:
        return False
    # asyncio's add_signal_handler installs a no-op and dispatches through its wakeup fd: a
    # handler in front of it would not hold the signal back.
    return getattr(handler, "__name__", "") != "_sighandler_noop"
