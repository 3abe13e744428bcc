"""healthkit's own worker threads for plain-function checks, at most ``max_threads`` at once.

A thread cannot be killed, so the bound counts threads, not calls: a check that hangs holds
its thread, and its place, until it returns. The threads are daemon threads, so one stuck in
a check never keeps the interpreter from exiting. A thread hands its result back by posting to
the event loop that waits for it, which never blocks: if that loop is gone, nobody is waiting.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

__all__ = ["Job", "Workers"]

#: Seconds an idle worker thread waits for another job before it ends.
IDLE_SECONDS = 30.0

Post = Callable[[], bool]  # posts a wake-up onto an event loop; False when that loop is gone


class Job:
    """One call of a plain function in a worker thread; outlives the probe that started it."""

    __slots__ = ("_lock", "_waiters", "done", "error", "fn", "started", "value")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.started = time.monotonic()  # not a loop clock: the job may outlive its loop
        self.value: object = None
        self.error: BaseException | None = None
        self.done = False
        self._lock = threading.Lock()
        self._waiters: list[Post] = []

    def when_done(self, wake: Post) -> bool:
        """Call ``wake`` (from the worker thread) when the job ends; False if it already has."""
        with self._lock:
            if self.done:
                return False
            self._waiters.append(wake)
            return True

    def forget(self, wake: Post) -> None:
        """Take back a ``when_done`` wake-up (its caller stopped waiting)."""
        with self._lock:
            if wake in self._waiters:
                self._waiters.remove(wake)

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # even SystemExit: a check must not stop the server
            self.error = exc
        with self._lock:
            self.done = True
            waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake()


class Workers:
    """A bounded set of daemon threads, shared by every event loop a Health runs on."""

    __slots__ = ("_busy", "_idle", "_lock", "_waiters", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._busy = 0
        self._idle: list[_Worker] = []
        self._waiters: list[Post] = []

    @property
    def busy(self) -> int:
        """Threads running a job now (hung ones included)."""
        return self._busy

    def try_start(self, job: Job) -> bool:
        """Run ``job`` in a worker thread if one is free or may be started; False if all
        ``limit`` threads are busy."""
        with self._lock:
            if self._busy >= self.limit:
                return False
            self._busy += 1
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            try:
                worker = _Worker(self)
            except BaseException:  # no thread could be started (a limit on threads or processes)
                self._finished(None)
                raise
        worker.jobs.put(job)
        return True

    def when_free(self, wake: Post) -> None:
        """Call ``wake`` when a thread becomes free (or now, if one is)."""
        with self._lock:
            if self._busy < self.limit:
                free = True
            else:
                free = False
                self._waiters.append(wake)
        if free:
            wake()

    def forget(self, wake: Post) -> None:
        """Take back a ``when_free`` wake-up (its caller stopped waiting)."""
        with self._lock:
            if wake in self._waiters:
                self._waiters.remove(wake)

    def _finished(self, worker: _Worker | None) -> None:
        with self._lock:
            self._busy -= 1
            if worker is not None:
                self._idle.append(worker)
            waiters, self._waiters = self._waiters, []
        for wake in waiters:  # each waiter tries again; a loop that is gone is skipped
            wake()

    def _retire(self, worker: _Worker) -> bool:
        """An idle worker may end: True unless a job was just handed to it."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                return True
            return False


class _Worker:
    __slots__ = ("jobs", "pool")

    def __init__(self, pool: Workers) -> None:
        self.pool = pool
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="healthkit-check", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                if self.pool._retire(self):
                    return
                continue
            job.run()
            self.pool._finished(self)
