"""One call of one check: async or in a worker thread, its outcome turned into an Observation."""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import orjson

from ._check import Check, Result
from ._redact import Redactor
from ._report import Observation
from ._status import Status

if TYPE_CHECKING:
    from ._slot import Slot

__all__ = ["ThreadRun", "call", "failed", "seconds", "timed_out"]

_log = logging.getLogger("healthkit")

#: Bytes a check's observed value, unit and affected endpoints may take as JSON.
MAX_RESULT = 8192


class ThreadRun:
    """A sync check's call in a worker thread; outlives the call that started it if it hangs.

    ``lock`` orders the hand-over between the event loop and the thread: a run abandoned before
    its thread started never starts; a run abandoned while running reports back when it ends.
    """

    __slots__ = ("abandoned", "done", "entered", "error", "finished", "lock", "started", "token", "value")

    def __init__(self, started: float, token: anyio.lowlevel.EventLoopToken) -> None:
        self.started = started
        self.token = token  # the event loop that waits on `done`
        self.done = anyio.Event()
        self.lock = threading.Lock()
        self.value: object = None
        self.error: BaseException | None = None
        self.entered = False
        self.finished = False
        self.abandoned = False


def _passes_through(exc: BaseException) -> bool:
    """Exceptions a check must not turn into a fail: cancellation, Ctrl-C, closing a coroutine."""
    return isinstance(exc, KeyboardInterrupt | GeneratorExit | anyio.get_cancelled_exc_class())


async def call(
    slot: Slot, wall: datetime, clock: Callable[[], float], limiter: Callable[[], anyio.CapacityLimiter]
) -> Observation:
    """Call the slot's check once; raises only cancellation (and Ctrl-C), never a check's error."""
    check = slot.check
    started = clock()
    try:
        if check.is_async:
            value: object = await check.fn()  # type: ignore[misc]
        else:
            run = await _call_in_thread(slot, started, limiter)
            if run.error is not None:
                return failed(check, run.error, wall, clock() - started)
            value = run.value
    except BaseException as exc:  # a check's SystemExit or odd BaseException is its failure
        if _passes_through(exc):
            raise
        return failed(check, exc, wall, clock() - started)
    return _observe(check, value, wall, clock() - started, slot.redact)


async def _call_in_thread(slot: Slot, now: float, limiter: Callable[[], anyio.CapacityLimiter]) -> ThreadRun:
    token = anyio.lowlevel.current_token()
    while True:
        run = slot.thread_run
        if run is None:
            return await _start_thread(slot, now, token, limiter())
        if run.token != token:
            # Left by an event loop that is gone (a test client opens one per request): its
            # thread cannot report back here, so look at it directly.
            if run.finished:
                slot.thread_run = None
                continue
            await anyio.sleep(0.01)
            continue
        # A call from earlier is still running in its thread (it hung past its timeout, or a
        # concurrent probe started it): wait for it instead of starting another thread.
        await run.done.wait()
        if run.entered:
            return run
        # That call was cancelled before its thread began: make a call of our own.


async def _start_thread(
    slot: Slot, now: float, token: anyio.lowlevel.EventLoopToken, limiter: anyio.CapacityLimiter
) -> ThreadRun:
    run = slot.thread_run = ThreadRun(now, token)
    try:
        await anyio.to_thread.run_sync(_thread_body, slot, run, limiter=limiter, abandon_on_cancel=True)
    except BaseException:
        # Timed out or cancelled. A thread that has not begun never will; one that runs goes on
        # and reports back when it ends, unless it already has.
        with run.lock:
            run.abandoned = True
            finish_now = run.finished or not run.entered
        if finish_now:
            _finish(slot, run)
        raise
    _finish(slot, run)
    return run


def _thread_body(slot: Slot, run: ThreadRun) -> None:
    with run.lock:
        if run.abandoned:
            return
        run.entered = True
    try:
        run.value = slot.check.fn()
    except BaseException as exc:  # even SystemExit: a check must not stop the server
        run.error = exc
    finally:
        with run.lock:
            run.finished = True
            report = run.abandoned
        if report:
            # If the event loop is gone, nobody is waiting any more.
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(_finish, slot, run, token=run.token)


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
    return Observation(slot.check, Status.FAIL, wall, limit, output=output, timed_out=True)


def _observe(check: Check, value: object, wall: datetime, duration: float, redact: Redactor) -> Observation:
    if value is None:
        return Observation(check, Status.PASS, wall, duration)
    if not isinstance(value, Result):
        return _bad_return(check, value, wall, duration)
    observed = value.observed_value
    try:
        # Once per call (not per probe): a result that cannot be serialized is this check's
        # failure, not a broken response. Catches odd types, ints past 64 bits, lone surrogates.
        size = len(orjson.dumps((observed, value.observed_unit, value.affected_endpoints)))
        orjson.dumps(value.output)
    except orjson.JSONEncodeError:
        for field in ("observed_value", "output", "observed_unit", "affected_endpoints"):
            try:
                orjson.dumps(getattr(value, field))
            except orjson.JSONEncodeError:
                break
        _log.warning("Check %r returned a %s that is not JSON: %r", check.name, field, getattr(value, field))
        kind = type(getattr(value, field)).__name__
        output = f"{field} of type {kind} is not JSON-serializable"
        return Observation(check, Status.FAIL, wall, duration, output=output)
    if size > MAX_RESULT:
        _log.warning("Check %r returned a result of %d bytes as JSON", check.name, size)
        output = f"the result is too large for a health document: {size} bytes as JSON, at most {MAX_RESULT}"
        return Observation(check, Status.FAIL, wall, duration, output=output)
    # A copy (the check's objects may change later, after the result is cached), redacted: every
    # string that leaves is masked, outputs when serialized, the rest here.
    observed = None if observed is None else redact.value(orjson.loads(orjson.dumps(observed)))
    return Observation(
        check,
        value.status,
        wall,
        duration,
        output=value.output,
        observed_value=observed,
        observed_unit=None if value.observed_unit is None else redact(value.observed_unit),
        affected_endpoints=tuple(redact(endpoint) for endpoint in value.affected_endpoints),
    )


def _bad_return(check: Check, value: object, wall: datetime, duration: float) -> Observation:
    kind = type(value).__name__
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never awaited on purpose; closing avoids a RuntimeWarning
        if check.is_async:
            advice = "await it inside the check"
            output = f"returned an un-awaited {kind}; {advice}"
        else:
            advice = "declare the check with 'async def'"
            output = f"returned {kind} from a plain function; {advice}"
        _log.warning("Check %r returned an awaitable: %s", check.name, advice)
    else:
        _log.warning("Check %r returned %r; a check returns a Result or None", check.name, value)
        output = f"returned {kind}, expected a Result or None"
    return Observation(check, Status.FAIL, wall, duration, output=output)


def failed(check: Check, exc: BaseException, wall: datetime, duration: float) -> Observation:
    # The public output names the exception type only; the message and traceback (which can
    # hold DSNs, passwords, hostnames) go to the server's log when the status changes.
    return Observation(check, Status.FAIL, wall, duration, output=type(exc).__name__, error=exc)


def seconds(value: float) -> str:
    """0.5 -> '0.5s', 2.0 -> '2s', 0.123456 -> '0.123s', 0.0004 -> '0.0004s'."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    if text == "0":
        text = f"{value:.1g}"
    return f"{text}s"
