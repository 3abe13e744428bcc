"""One call of one check: async or in a worker thread, its outcome turned into an Observation."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import orjson

from ._check import Check, Result
from ._report import Observation
from ._status import Status

if TYPE_CHECKING:
    from ._slot import Slot

__all__ = ["ThreadRun", "call", "seconds", "timed_out"]

_log = logging.getLogger("healthkit")
_PLAIN_JSON = (int, float, str, bool)


class ThreadRun:
    """A sync check's call in a worker thread; outlives the call that started it if it hangs."""

    __slots__ = ("abandoned", "done", "error", "finished", "started", "value")

    def __init__(self, started: float) -> None:
        self.started = started
        self.done = anyio.Event()
        self.value: object = None
        self.error: Exception | None = None
        self.finished = False
        self.abandoned = False


async def call(
    slot: Slot, wall: datetime, clock: Callable[[], float], limiter: anyio.CapacityLimiter
) -> Observation:
    """Call the slot's check once; never raises Exception (cancellation propagates)."""
    check = slot.check
    started = clock()
    try:
        if check.is_async:
            value: object = await check.fn()  # type: ignore[misc]
        else:
            run = await _call_in_thread(slot, started, limiter)
            if run.error is not None:
                return _failed(check, run.error, wall, clock() - started)
            value = run.value
    except Exception as exc:
        return _failed(check, exc, wall, clock() - started)
    return _observe(check, value, wall, clock() - started)


async def _call_in_thread(slot: Slot, now: float, limiter: anyio.CapacityLimiter) -> ThreadRun:
    run = slot.thread_run
    if run is None:
        # Nobody is running this check in a thread: start it.
        run = slot.thread_run = ThreadRun(now)
        token = anyio.lowlevel.current_token()
        try:
            await anyio.to_thread.run_sync(
                _thread_body, slot, run, token, limiter=limiter, abandon_on_cancel=True
            )
        except BaseException:
            # Timed out or cancelled: the thread goes on and reports back when it ends. If it
            # ended just now, before seeing `abandoned`, finish here (both may; it is idempotent).
            run.abandoned = True
            if run.finished:
                _finish(slot, run)
            raise
        _finish(slot, run)
    else:
        # A call from earlier is still running in its thread (it hung past its timeout): wait
        # for it instead of starting another thread.
        await run.done.wait()
    return run


def _thread_body(slot: Slot, run: ThreadRun, token: anyio.lowlevel.EventLoopToken) -> None:
    try:
        run.value = slot.check.fn()
    except Exception as exc:
        run.error = exc
    finally:
        run.finished = True
        if run.abandoned:
            # If the event loop is gone, nobody is waiting any more.
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(_finish, slot, run, token=token)


def _finish(slot: Slot, run: ThreadRun) -> None:
    if slot.thread_run is run:
        slot.thread_run = None
    run.done.set()


def timed_out(
    slot: Slot, wall: datetime, limit: float, started: float, now: float, *, deadline: bool
) -> Observation:
    """The outcome of a call cut at ``limit`` seconds (``deadline``: cut by a probe's deadline)."""
    output = f"timed out after {seconds(limit)}"
    if deadline:
        output += " (the probe's deadline)"
    run = slot.thread_run
    if run is not None and run.started < started:
        output += f"; still running from an earlier call started {seconds(now - run.started)} ago"
    return Observation(slot.check, Status.FAIL, wall, limit, output=output)


def _observe(check: Check, value: object, wall: datetime, duration: float) -> Observation:
    if value is None:
        return Observation(check, Status.PASS, wall, duration)
    if not isinstance(value, Result):
        return _bad_return(check, value, wall, duration)
    observed = value.observed_value
    if observed is not None and type(observed) not in _PLAIN_JSON:
        try:
            orjson.dumps(observed)
        except TypeError:
            _log.warning("Check %r returned an observed_value that is not JSON: %r", check.name, observed)
            output = f"observed_value of type {type(observed).__name__} is not JSON-serializable"
            return Observation(check, Status.FAIL, wall, duration, output=output)
    return Observation(
        check,
        value.status,
        wall,
        duration,
        output=value.output,
        observed_value=observed,
        observed_unit=value.observed_unit,
        affected_endpoints=tuple(value.affected_endpoints),
    )


def _bad_return(check: Check, value: object, wall: datetime, duration: float) -> Observation:
    kind = type(value).__name__
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never awaited on purpose; closing avoids a RuntimeWarning
        _log.warning(
            "Check %r is a plain callable that returned an awaitable; declare it with 'async def'",
            check.name,
        )
        output = f"returned {kind} from a plain function; declare the check with 'async def'"
    else:
        _log.warning("Check %r returned %r; a check returns a Result or None", check.name, value)
        output = f"returned {kind}, expected a Result or None"
    return Observation(check, Status.FAIL, wall, duration, output=output)


def _failed(check: Check, exc: Exception, wall: datetime, duration: float) -> Observation:
    # The public output names the exception type only; the message and traceback (which can
    # hold DSNs, passwords, hostnames) go to the server's log when the status changes.
    return Observation(check, Status.FAIL, wall, duration, output=type(exc).__name__, error=exc)


def seconds(value: float) -> str:
    """0.5 -> '0.5s', 2.0 -> '2s', 0.123456 -> '0.123s', 0.0004 -> '0.0004s'."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    if text == "0":
        text = f"{value:.1g}"
    return f"{text}s"
