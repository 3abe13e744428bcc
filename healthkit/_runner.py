"""Running checks: concurrently, each under a deadline, sync ones in bounded worker threads.

The request path is kept lean. On asyncio each check is a plain task with a timer that cancels
it, and the run waits on one future that the last task (or the deadline) resolves: no task
group, no cancel scope, and a check that swallows cancellation cannot hold the answer past the
deadline. Other backends (trio) use an anyio task group with one cancel scope per check.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import orjson
import sniffio

from ._check import Check, Result
from ._report import Observation
from ._status import Status

__all__ = ["Runner"]

_log = logging.getLogger("healthkit")
_PLAIN_JSON = (int, float, str, bool)


class _ThreadRun:
    """A sync check's call in a worker thread; outlives the request that started it if it hangs."""

    __slots__ = ("abandoned", "done", "error", "finished", "started", "value")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.done = anyio.Event()
        self.value: object = None
        self.error: Exception | None = None
        self.finished = False
        self.abandoned = False


class _Entry:
    """A check as one runner runs it: its effective timeout and the state of its thread."""

    __slots__ = ("check", "limited_by_deadline", "thread_run", "timeout")

    def __init__(self, check: Check, deadline: float) -> None:
        self.check = check
        self.timeout = min(check.timeout, deadline)
        self.limited_by_deadline = check.timeout > deadline
        self.thread_run: _ThreadRun | None = None


class Runner:
    """Runs a fixed list of checks; one instance serves every request of an endpoint."""

    def __init__(self, checks: Sequence[Check], *, deadline: float, max_threads: int) -> None:
        self._entries = [_Entry(check, deadline) for check in checks]
        self._max_threads = max_threads
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    async def run(self) -> list[Observation]:
        """Run every check once; returns one observation per check, in registration order."""
        if not self._entries:
            return []
        now = datetime.now(UTC)
        started = time.perf_counter()
        if sniffio.current_async_library() == "asyncio":
            return await self._run_asyncio(now, started)
        return await self._run_anyio(now, started)

    async def _run_asyncio(self, now: datetime, started: float) -> list[Observation]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        remaining = len(self._entries)

        def task_done(_: object) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0 and not waiter.done():
                waiter.set_result(None)

        tasks: list[asyncio.Task[Observation]] = []
        timers: list[asyncio.TimerHandle] = []
        longest = 0.0
        for entry in self._entries:
            task = loop.create_task(self._execute(entry, now))
            task.add_done_callback(task_done)
            tasks.append(task)
            timers.append(loop.call_later(entry.timeout, task.cancel))
            longest = max(longest, entry.timeout)
        # The hard stop: even a check that swallows its cancellation cannot hold the answer.
        timers.append(loop.call_later(longest, _resolve, waiter))
        try:
            await waiter
        finally:
            for timer in timers:
                timer.cancel()
            for task in tasks:
                if not task.done():
                    task.cancel()
        return [
            task.result() if task.done() and not task.cancelled() else self._timed_out(entry, now, started)
            for entry, task in zip(self._entries, tasks, strict=True)
        ]

    async def _run_anyio(self, now: datetime, started: float) -> list[Observation]:
        results: list[Observation | None] = [None] * len(self._entries)

        async def run_one(index: int, entry: _Entry) -> None:
            with anyio.move_on_after(entry.timeout):
                results[index] = await self._execute(entry, now)

        if len(self._entries) == 1:
            await run_one(0, self._entries[0])
        else:
            async with anyio.create_task_group() as group:
                for index, entry in enumerate(self._entries):
                    group.start_soon(run_one, index, entry)
        return [
            result if result is not None else self._timed_out(entry, now, started)
            for entry, result in zip(self._entries, results, strict=True)
        ]

    async def _execute(self, entry: _Entry, now: datetime) -> Observation:
        check = entry.check
        started = time.perf_counter()
        try:
            if check.is_async:
                value: object = await check.fn()  # type: ignore[misc]
            else:
                run = await self._call_in_thread(entry)
                if run.error is not None:
                    return _failed(check, run.error, now, time.perf_counter() - started)
                value = run.value
        except Exception as exc:
            return _failed(check, exc, now, time.perf_counter() - started)
        return _observe(check, value, now, time.perf_counter() - started)

    async def _call_in_thread(self, entry: _Entry) -> _ThreadRun:
        run = entry.thread_run
        if run is None:
            # Nobody is running this check in a thread: start it.
            run = entry.thread_run = _ThreadRun()
            token = anyio.lowlevel.current_token()
            try:
                await anyio.to_thread.run_sync(
                    _thread_body, entry, run, token, limiter=self._limiter(), abandon_on_cancel=True
                )
            except BaseException:
                # Timed out or cancelled: the thread goes on and reports back when it ends. If it
                # ended just now, before seeing `abandoned`, finish here (both may; it is idempotent).
                run.abandoned = True
                if run.finished:
                    _finish(entry, run)
                raise
            _finish(entry, run)
        else:
            # A call is already running (a concurrent probe, or a hung call from an earlier one):
            # wait for it instead of starting another thread.
            await run.done.wait()
        return run

    def _limiter(self) -> anyio.CapacityLimiter:
        backend = sniffio.current_async_library()
        limiter = self._limiters.get(backend)
        if limiter is None:
            limiter = self._limiters[backend] = anyio.CapacityLimiter(self._max_threads)
        return limiter

    def _timed_out(self, entry: _Entry, now: datetime, started: float) -> Observation:
        output = f"timed out after {_seconds(entry.timeout)}"
        if entry.limited_by_deadline:
            output += " (the probe's deadline)"
        run = entry.thread_run
        if run is not None and run.started < started:
            age = time.perf_counter() - run.started
            output += f"; still running from an earlier call started {_seconds(age)} ago"
        return Observation(entry.check, Status.FAIL, now, entry.timeout, output=output)


def _thread_body(entry: _Entry, run: _ThreadRun, token: anyio.lowlevel.EventLoopToken) -> None:
    try:
        run.value = entry.check.fn()
    except Exception as exc:
        run.error = exc
    finally:
        run.finished = True
        if run.abandoned:
            # If the event loop is gone, nobody is waiting any more.
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(_finish, entry, run, token=token)


def _finish(entry: _Entry, run: _ThreadRun) -> None:
    if entry.thread_run is run:
        entry.thread_run = None
    run.done.set()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _observe(check: Check, value: object, now: datetime, duration: float) -> Observation:
    if value is None:
        return Observation(check, Status.PASS, now, duration)
    if not isinstance(value, Result):
        return _bad_return(check, value, now, duration)
    observed = value.observed_value
    if observed is not None and type(observed) not in _PLAIN_JSON:
        try:
            orjson.dumps(observed)
        except TypeError:
            _log.warning("Check %r returned an observed_value that is not JSON: %r", check.name, observed)
            output = f"observed_value of type {type(observed).__name__} is not JSON-serializable"
            return Observation(check, Status.FAIL, now, duration, output=output)
    return Observation(
        check,
        value.status,
        now,
        duration,
        output=value.output,
        observed_value=observed,
        observed_unit=value.observed_unit,
        affected_endpoints=tuple(value.affected_endpoints),
    )


def _bad_return(check: Check, value: object, now: datetime, duration: float) -> Observation:
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
    return Observation(check, Status.FAIL, now, duration, output=output)


def _failed(check: Check, exc: Exception, now: datetime, duration: float) -> Observation:
    # The public output names the exception type only; the message and traceback (which can
    # hold DSNs, passwords, hostnames) go to the server's log.
    level = logging.ERROR if check.critical else logging.WARNING
    _log.log(level, "Check %r failed", check.name, exc_info=exc)
    return Observation(check, Status.FAIL, now, duration, output=type(exc).__name__)


def _seconds(value: float) -> str:
    """0.5 -> '0.5s', 2.0 -> '2s', 0.123456 -> '0.123s', 0.0004 -> '0.0004s'."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    if text == "0":
        text = f"{value:.1g}"
    return f"{text}s"
