"""CheckState: everything about one check as a Health runs it, and the only writer of it.

It answers one question, "this check's outcome for a probe at this time", with a cached result,
a call in flight to wait on (shared by every probe that wants the check meanwhile), or a new
call. It owns that call from launch to landing: the timeout, the worker thread a plain function
runs in, error ids, flap damping, the cache, and the status transitions that listeners hear of.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import anyio
import anyio.lowlevel

from ._call import failed, passes_through, received
from ._check import Check
from ._damping import Damper
from ._events import Changes, Events, StatusChange
from ._loops import Loop, asyncio_loop, post_to_current_loop
from ._observe import CallEnded, Observers
from ._outcome import CheckReport
from ._redact import Redactor
from ._status import Status
from ._text import seconds
from ._threads import Job, Workers

__all__ = ["CheckState", "SharedCall"]

_log = logging.getLogger("healthkit")
_LEVELS = {Status.PASS: logging.INFO, Status.WARN: logging.WARNING, Status.FAIL: logging.ERROR}

#: A call that takes this share of its timeout or more is logged as slow (once, until it is fast).
SLOW_SHARE = 0.8

_Landing = tuple[CheckReport, BaseException | None]


class SharedCall:
    """One call of a check in progress; every probe that wants the check meanwhile waits on it.

    ``keep``: the call goes on when its probes stop waiting (a refresh, or a probe whose deadline
    passed: the next probe gets the result). Otherwise, when every probe waiting on it has been
    cancelled (its client went away), the call is cancelled too, on every event loop.
    """

    __slots__ = (
        "_subscribers",
        "cancel",
        "cut_by_probe",
        "earlier",
        "keep",
        "limit",
        "outcome",
        "queued",
        "settled",
        "started",
        "stopped",
        "waiters",
        "wall",
    )

    def __init__(self, started: float, limit: float, *, keep: bool, cut_by_probe: bool) -> None:
        self.started = started  # loop clock
        self.wall = datetime.now(UTC)
        self.limit = limit
        self.keep = keep
        self.cut_by_probe = cut_by_probe  # cut at a probe's deadline, before the check's timeout
        self.queued = False  # waiting for a free worker thread
        self.earlier: float | None = None  # waiting for an earlier call's thread, started then (monotonic)
        self.waiters = 0
        self.outcome: CheckReport | None = None  # None once settled: the call was abandoned
        self.settled = False
        self.stopped = False  # cancelled by the end of the lifespan: no probe may call again
        self.cancel: Callable[[], object] = _nothing
        self._subscribers: list[Callable[[], None]] = []

    def subscribe(self, waiter: Callable[[], None]) -> None:
        self._subscribers.append(waiter)

    def unsubscribe(self, waiter: Callable[[], None]) -> None:
        if waiter in self._subscribers:
            self._subscribers.remove(waiter)

    def leave(self, *, cancelled: bool) -> None:
        """A probe stops waiting: at its deadline (the call goes on), or cancelled."""
        self.waiters -= 1
        if self.settled:
            return
        if not cancelled:
            self.keep = True
        elif self.waiters <= 0 and not self.keep:
            self.cancel()

    def _settle(self, outcome: CheckReport | None) -> None:
        self.settled = True
        self.outcome = outcome
        subscribers, self._subscribers = self._subscribers, []
        for waiter in subscribers:
            waiter()


def _nothing() -> None:
    return None


async def _cancellation_pending(exc: BaseException) -> None:
    """Raise the cancellation if this call's task was cancelled, whatever the check raised."""
    task = asyncio_loop() and asyncio.current_task()
    if task:
        if task.cancelling():
            raise asyncio.CancelledError from exc
    else:
        await anyio.lowlevel.checkpoint_if_cancelled()


class CheckState:
    """A registered check as a Health runs it."""

    __slots__ = (
        "_call",
        "_changes",
        "_damper",
        "_error_id",
        "_error_key",
        "_events",
        "_expose_errors",
        "_job",
        "_loop",
        "_observers",
        "_redact",
        "_reported",
        "_reported_since",
        "_slow",
        "_workers",
        "background",
        "check",
        "fresh_for",
        "jitter",
        "latest",
        "latest_at",
        "max_age",
        "stale",
        "ttl",
    )

    def __init__(
        self,
        check: Check,
        *,
        ttl: float,
        events: Events,
        redact: Redactor,
        expose_errors: bool,
        workers: Workers,
        observers: Observers | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.check = check
        self._observers = observers if observers is not None else Observers()
        self._changes = changes if changes is not None else Changes()
        self.ttl = ttl
        self.stale = check.stale_while_revalidate
        self.background = check.refresh_every is not None
        interval = check.refresh_every or 0.0
        self.jitter = check.refresh_jitter if check.refresh_jitter is not None else interval / 10
        self.max_age = (
            check.max_age if check.max_age is not None else 2 * interval + self.jitter + check.timeout
        )
        # How long after its call ended ``latest`` is served as it is (observe's first branches).
        self.fresh_for = self.max_age if self.background else ttl
        damped = check.failure_threshold > 1 or check.success_threshold > 1 or check.max_time_in_error > 0
        self._damper = Damper(check) if damped else None
        self._events = events
        self._redact = redact
        self._expose_errors = expose_errors
        self._workers = workers
        self._error_key: tuple[type[BaseException], str] | None = None
        self._error_id = ""
        # Bound to one event loop (clocks and tasks mean nothing on another): see _bind.
        self._loop: object = None
        # The latest call's report and when it ended (loop clock): read-only outside this class.
        self.latest: CheckReport | None = None
        self.latest_at = 0.0
        self._call: SharedCall | None = None
        self._reported: Status | None = None
        self._reported_since: float | None = None
        self._slow = False
        # Not bound to a loop: a worker thread outlives the loop that started it.
        self._job: Job | None = None

    # --- the entry point ---

    def observe(
        self, loop: Loop, now: float, until: float, not_running: Callable[[Check, float], str]
    ) -> CheckReport | SharedCall:
        """This check's outcome for a probe at ``now`` (loop clock) that answers by ``until``:
        a report at once, or a call to wait on (the probe has joined it: it must ``leave`` it).
        A result served again is ``latest`` itself (``now - latest_at`` seconds old): a probe
        that needs its age makes the aged copy. ``not_running(check, now)`` explains why a
        background check has no result yet."""
        if loop.identity is not self._loop:
            self._bind(loop.identity)
        latest = self.latest
        if self.background:
            if latest is not None:
                age = now - self.latest_at
                if age <= self.max_age:
                    return latest
                output = (
                    f"last result is {seconds(age)} old, older than the allowed {seconds(self.max_age)}: "
                    "the background refresh is not keeping up"
                )
                stale = CheckReport(self.check, Status.FAIL, latest.time, latest.duration, output, age=age)
                self._track(stale, now)
                return stale
            if self._call is None:
                output = not_running(self.check, now)
                missing = CheckReport(self.check, Status.FAIL, datetime.now(UTC), 0.0, output)
                self._track(missing, now)
                return missing
        elif latest is not None:
            age = now - self.latest_at
            if age < self.ttl:
                return latest
            if age < self.ttl + self.stale and loop.detached:
                if self._call is None:
                    self.start(loop, keep=True)  # one refresh, in the background
                return latest
        call = self._call or self.start(loop, until=None if loop.detached else until)
        call.waiters += 1
        return call

    def outcome(self, call: SharedCall, since: float, now: float, deadline: float) -> CheckReport:
        """What a probe that began at ``since`` and waited on ``call`` reports at ``now``: the
        call's outcome, or a timeout when ``deadline`` came first."""
        if call.outcome is not None:
            return call.outcome
        if call.settled:
            output = "interrupted: the call was cancelled before it ended"
        elif call.queued:
            output = self._no_thread(now - since)
        elif call.earlier is not None:
            ago = seconds(time.monotonic() - call.earlier)
            waited = seconds(now - since)
            output = f"timed out after {waited}; still running from an earlier call started {ago} ago"
        elif call.started < since:
            output = (
                f"timed out after {seconds(now - since)}; "
                f"still running from an earlier call started {seconds(now - call.started)} ago"
            )
        elif self.check.timeout > deadline:
            output = f"timed out after {seconds(deadline)} (the probe's deadline)"
        else:
            output = f"timed out after {seconds(self.check.timeout)}"
        late = CheckReport(self.check, Status.FAIL, call.wall, now - since, output, timed_out=True)
        if self._damper is not None:
            # Not a call's outcome: shown as damping would show a failed call, without counting it.
            late = self._damper.preview(late, now)
        self._track(late, now)
        return late

    # --- calls ---

    def start(self, loop: Loop, *, until: float | None = None, keep: bool = False) -> SharedCall:
        """Launch a call, cut at the check's timeout (or at ``until``, the probe's deadline, when
        the call cannot outlive the probe)."""
        if loop.identity is not self._loop:
            self._bind(loop.identity)
        now = loop.time()
        limit = self.check.timeout
        cut = False
        if until is not None and until - now < limit:
            limit, cut = max(until - now, 0.0), True
        call = self._call = SharedCall(now, limit, keep=keep, cut_by_probe=cut)

        def landed(landing: _Landing | None, expired: bool, raised: BaseException | None) -> None:
            if raised is not None:
                landing = failed(self.check, raised, call.wall, loop.time() - now), raised
            self._land(call, landing, expired, loop.time())

        call.cancel = loop.launch(lambda: self._invoke(call, loop), limit, landed)
        return call

    def refresh(self, loop: Loop) -> SharedCall:
        """The call in flight, or a new one that outlives whoever waits for it."""
        if loop.identity is self._loop and self._call is not None:
            return self._call
        return self.start(loop, keep=True)

    def stop(self) -> SharedCall | None:
        """Cancel the call in flight (the lifespan ends); the call, to wait for, or None."""
        call = self._call
        if call is None or call.settled:
            return None
        call.keep = False
        call.stopped = True
        call.cancel()
        return call

    async def _invoke(self, call: SharedCall, loop: Loop) -> _Landing:
        check = self.check
        started = loop.time()
        try:
            if check.is_async:
                value: object = await check.fn()  # type: ignore[misc]
            else:
                job = await self._in_thread(call)
                if job.error is not None:
                    return failed(check, job.error, call.wall, loop.time() - started), job.error
                value = job.value
        except BaseException as exc:  # a check's SystemExit or odd BaseException is its failure
            if passes_through(exc):
                raise
            # A check (or its driver) that turned its cancellation into an error of its own was
            # still cancelled: by its timeout, its probes leaving or the lifespan's end.
            await _cancellation_pending(exc)
            return failed(check, exc, call.wall, loop.time() - started), exc
        return received(check, value, call.wall, loop.time() - started, self._redact), None

    async def _in_thread(self, call: SharedCall) -> Job:
        """Run the plain function in a worker thread, or wait for the one still running from an
        earlier call: a hung check holds one thread, never more."""
        job = self._job
        post = post_to_current_loop()
        if job is None or job.done:
            job = Job(self.check.fn)
            while not self._workers.try_start(job):
                call.queued = True
                free = anyio.Event()
                wake = partial(post, free.set)
                self._workers.when_free(wake)
                try:
                    await free.wait()
                finally:
                    self._workers.forget(wake)  # a call that gives up leaves nothing behind
            call.queued = False
            job.started = time.monotonic()  # it runs from now, whatever it waited for a thread
            self._job = job
        else:
            call.earlier = job.started
        finished = anyio.Event()
        wake = partial(post, finished.set)
        if job.when_done(wake):
            try:
                await finished.wait()
            finally:
                job.forget(wake)
        return job

    def _land(self, call: SharedCall, landing: _Landing | None, expired: bool, now: float) -> None:
        """The one completion path: a call ended (returned, was cut, or was cancelled)."""
        if self._call is call:
            self._call = None
        if expired:
            report, error = self._timed_out(call, now), None
        elif landing is None:
            # Cancelled from outside: its probes went away, the lifespan ended or the event loop
            # is shutting down. Not the check's failure: nothing is recorded.
            call._settle(None)
            return
        else:
            report, error = landing
        new_error = False
        if error is not None:
            report, new_error = self._identify(report, error)
        else:
            self._error_key = None
        if self._damper is not None:
            report = self._damper.apply(report, now)
        self.latest, self.latest_at = report, now
        self._changes.note()
        changed = self._track(report, now, error if new_error else None)
        if error is not None and not (changed and new_error):
            # Each distinct error is logged in full once, with its id; repeats at debug level.
            level = _LEVELS[report.status] if new_error else logging.DEBUG
            _log.log(level, "Check %r failed: %s", self.check.name, report.output, exc_info=error)
        if not expired:
            self._note_speed(report)
        call._settle(report)
        if self._observers:
            self._observers.call_ended(
                CallEnded(
                    self.check.name,
                    report.status,
                    report.duration,
                    report.error_id,
                    report.timed_out,
                    call.waiters,
                )
            )

    def _timed_out(self, call: SharedCall, now: float) -> CheckReport:
        if call.queued:
            output = self._no_thread(call.limit)
        else:
            output = f"timed out after {seconds(call.limit)}"
            if call.cut_by_probe:
                output += " (the probe's deadline)"
            if call.earlier is not None:
                ago = seconds(time.monotonic() - call.earlier)
                output += f"; still running from an earlier call started {ago} ago"
        return CheckReport(self.check, Status.FAIL, call.wall, call.limit, output, timed_out=True)

    def _no_thread(self, waited: float) -> str:
        limit = self._workers.limit
        held = f"{limit} are held by checks that have not returned"
        return f"no worker thread free within {seconds(waited)}: {held}"

    def _identify(self, report: CheckReport, error: BaseException) -> tuple[CheckReport, bool]:
        """Give a failure its error id: a new one for an error unlike the last (True), the same
        one while the same error repeats. The id joins the public output and the log record."""
        try:
            text = str(error)
        except Exception:
            text = "(its text could not be read)"
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # no lone surrogates
        key = (type(error), text)
        new = key != self._error_key
        if new:
            self._error_key = key
            self._error_id = secrets.token_hex(3)
        what = type(error).__name__
        if self._expose_errors and text:
            what = f"{what}: {self._redact.clipped(text, 512)}"  # masked before it is cut
        output = f"{what} (error id {self._error_id})"
        return (
            CheckReport(
                report.check, report.status, report.time, report.duration, output, error_id=self._error_id
            ),
            new,
        )

    # --- what listeners hear ---

    def _track(self, reported: CheckReport, now: float, error: BaseException | None = None) -> bool:
        """Note the status this check reports now: listeners and the log hear of changes (the
        log record carries ``error`` when given). True when the status changed."""
        status = reported.status
        if status is self._reported:
            return False
        old, since = self._reported, self._reported_since
        lasted = None if old is None or since is None else now - since
        self._reported, self._reported_since = status, now
        self._events.emit(StatusChange(self.check.name, old, status, lasted, reported.output), error)
        return True

    def _note_speed(self, report: CheckReport) -> None:
        check = self.check
        slow = SLOW_SHARE * check.timeout <= report.duration < check.timeout
        if slow and not self._slow:
            _log.warning(
                "Check %r is slow: it took %s of its %s timeout",
                check.name,
                seconds(report.duration),
                seconds(check.timeout),
            )
        self._slow = slow

    def _bind(self, loop: object) -> None:
        """Serve a new event loop (a test client runs each request on its own): a result, a call
        or a time from the old one means nothing here. The reported status stays, but how long
        it has lasted is unknown."""
        self._loop = loop
        self.latest = None
        self._changes.note()
        self._call = None
        self._reported_since = None
        if self._damper is not None:
            self._damper.rebind()

    def next_refresh(self, started: float) -> float:
        """When the background call after the one started at ``started`` is due (loop clock)."""
        assert self.check.refresh_every is not None
        return started + self.check.refresh_every + random.uniform(0, self.jitter)  # noqa: S311
