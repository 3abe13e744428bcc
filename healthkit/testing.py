"""Helpers for testing your checks and your ``Health`` in your own test suite (asyncio and trio).

- ``await run_check(check)``: one call of a check, as a probe makes it (its timeout, the
  exception policy, redaction), reported as a ``CheckReport``. A whole endpoint runs with
  ``await health.run("readyz")``.
- ``forced(check, Outcome.fails("refused"))`` and ``forced(health, {"db": Outcome.hangs()})``:
  the same registration with an outcome the test chooses (pass, warn, fail, hang, raise), so
  that tests of a ``Health``'s configuration need no real dependency. ``Forced`` is the check
  function they put in; it counts its calls, and its outcome can change between runs.
- ``virtual_time("asyncio")`` / ``virtual_time("trio")``: an ``anyio_backend`` whose clock jumps
  to the next timer whenever every task waits on one, so caches, background refresh, damping
  and timeouts are tested exactly and at once: ``await anyio.sleep(30)`` takes no real time.

Under virtual time, checks must not wait on threads (plain-function checks run in one): the
clock jumps past their timeouts while the thread works. ``Forced`` checks are async.
"""

from __future__ import annotations

import asyncio
import dataclasses
import selectors
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import anyio

from ._check import Check, Result, require_seconds
from ._health import Health
from ._outcome import CheckReport
from ._probe import Probe
from ._rebuild import rebuilt
from ._status import Status

__all__ = ["Forced", "Outcome", "VirtualTimeLoop", "forced", "run_check", "virtual_time"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a forced check does when called: after ``after`` seconds it returns ``result``
    (``None`` passes), raises ``error``, or, with ``hang``, never returns. Made with the class
    methods: ``Outcome.passes()``, ``warns(output)``, ``fails(output)``, ``returns(result)``,
    ``raises(error)``, ``hangs()``."""

    result: Result | None = None
    error: Exception | None = None
    hang: bool = False
    after: float = 0.0

    def __post_init__(self) -> None:
        require_seconds("Outcome", "after", self.after, allow_zero=True)
        if self.result is not None and not isinstance(self.result, Result):
            msg = f"Outcome result must be a Result or None, got {self.result!r}"
            raise TypeError(msg)
        if self.error is not None and not isinstance(self.error, Exception):
            msg = (
                f"Outcome error must be an Exception instance, got {self.error!r} (cancellation and "
                "Ctrl-C are never a check's failure)"
            )
            raise TypeError(msg)
        if sum((self.result is not None, self.error is not None, self.hang)) > 1:
            msg = "an Outcome returns a result, raises an error or hangs: one of them"
            raise ValueError(msg)

    @classmethod
    def passes(cls, *, after: float = 0.0) -> Outcome:
        """The check returns None: pass."""
        return cls(after=after)

    @classmethod
    def warns(cls, output: str | None = None, *, after: float = 0.0) -> Outcome:
        """The check returns ``Result("warn", output)``."""
        return cls(Result(Status.WARN, output=output), after=after)

    @classmethod
    def fails(cls, output: str | None = None, *, after: float = 0.0) -> Outcome:
        """The check returns ``Result("fail", output)`` (``raises`` fails with an exception)."""
        return cls(Result(Status.FAIL, output=output), after=after)

    @classmethod
    def returns(cls, result: Result, *, after: float = 0.0) -> Outcome:
        """The check returns this ``Result`` (observed values, units, affected endpoints)."""
        return cls(result, after=after)

    @classmethod
    def raises(cls, error: Exception | type[Exception], *, after: float = 0.0) -> Outcome:
        """The check raises ``error`` (an instance, or a class called with no arguments)."""
        if isinstance(error, type) and issubclass(error, Exception):
            error = error()
        return cls(error=error, after=after)

    @classmethod
    def hangs(cls) -> Outcome:
        """The check never returns: it is cut at its timeout (or the probe's deadline)."""
        return cls(hang=True)


class Forced:
    """An async check function that does what its ``outcome`` says; a test may change
    ``outcome`` between runs. ``calls`` counts the calls, to see caches and shared calls at work."""

    def __init__(self, outcome: Outcome | None = None) -> None:
        self.outcome = Outcome.passes() if outcome is None else outcome
        self.calls = 0

    async def __call__(self) -> Result | None:
        self.calls += 1
        outcome = self.outcome  # as it was when the call began
        if outcome.after:
            await anyio.sleep(outcome.after)
        if outcome.hang:
            await anyio.sleep_forever()
        if outcome.error is not None:
            raise outcome.error.with_traceback(None)  # a fresh traceback for each call
        return outcome.result

    def __repr__(self) -> str:
        return f"Forced({self.outcome!r}, calls={self.calls})"


@overload
def forced(target: Check, outcome: Outcome | Forced) -> Check: ...


@overload
def forced(target: Health, outcome: Mapping[str, Outcome | Forced]) -> Health: ...


def forced(
    target: Check | Health, outcome: Outcome | Forced | Mapping[str, Outcome | Forced]
) -> Check | Health:
    """The same check with its function replaced by a ``Forced`` one (an ``Outcome`` given is
    wrapped in one); or a new ``Health`` with the same settings and checks, those named in the
    mapping forced. Listeners (``on_change``) and ``set_ready`` state are not carried over."""
    if isinstance(target, Check):
        if not isinstance(outcome, Outcome | Forced):
            msg = f"forced(check, outcome) takes an Outcome or a Forced, got {outcome!r}"
            raise TypeError(msg)
        return dataclasses.replace(target, fn=_forced(outcome))
    if isinstance(target, Health):
        if not isinstance(outcome, Mapping):
            msg = f"forced(health, outcomes) takes a mapping of check names to Outcome, got {outcome!r}"
            raise TypeError(msg)
        names = [check.name for check in target.checks]
        unknown = sorted(set(outcome) - set(names))
        if unknown:
            msg = (
                f"forced: no check named {', '.join(map(repr, unknown))}; the checks are: {', '.join(names)}"
            )
            raise ValueError(msg)
        checks = [
            forced(check, outcome[check.name]) if check.name in outcome else check for check in target.checks
        ]
        return rebuilt(target, checks)
    msg = f"forced takes a Check or a Health, got {target!r}"
    raise TypeError(msg)


def _forced(outcome: Outcome | Forced) -> Forced:
    return outcome if isinstance(outcome, Forced) else Forced(outcome)


async def run_check(check: Check, *, expose_errors: bool = False) -> CheckReport:
    """Call ``check`` once, as a probe would, and return its report: cut at its own timeout,
    what it raised made a fail with an error id (with the exception's text when
    ``expose_errors``), strings redacted, damping applied from a clean slate (a first failure
    under ``failure_threshold=3`` reports warn). Each call starts afresh: to test caching,
    damping over several calls or background refresh, put checks in a ``Health`` and run it
    (``health.running()`` for background checks) under virtual time. A background check is
    called directly here, without its schedule."""
    if not isinstance(check, Check):
        msg = f"run_check takes a Check, got {check!r}"
        raise TypeError(msg)
    if check.refresh_every is not None:
        check = dataclasses.replace(
            check, refresh_every=None, refresh_jitter=None, initial_delay=0.0, max_age=None
        )
    health = Health(
        [check],
        deadline=check.timeout + 1.0,  # its own timeout cuts it, not the probe's deadline
        report=Probe(tags=check.tags or None, details="always"),
        expose_errors=expose_errors,
    )
    report = await health.run(check=check.name)
    return report.checks[check.name]


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose clock is virtual: when nothing is ready to run and a timer is
    pending, the clock jumps to that timer instead of waiting for it. With no timer at all it
    waits for real I/O (a thread handing back its result)."""

    def __init__(self) -> None:
        self._virtual_now = 1000.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the clock ahead (the loop does this itself whenever it would wait)."""
        self._virtual_now += seconds


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: wait for real I/O
            blocked: list[tuple[Any, int]] = super().select(None)
            return blocked
        self._loop.advance(timeout)
        return []


def virtual_time(backend: Literal["asyncio", "trio"] = "asyncio") -> tuple[str, dict[str, Any]]:
    """An ``anyio_backend`` value for anyio's pytest plugin with a virtual clock: asyncio with a
    ``VirtualTimeLoop``, or trio with ``MockClock(autojump_threshold=0)`` (trio must be installed).

    In a ``conftest.py`` or a test module::

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
            return virtual_time(request.param)
    """
    if backend == "asyncio":
        return ("asyncio", {"loop_factory": VirtualTimeLoop})
    if backend == "trio":
        from trio.testing import MockClock  # trio is optional: imported only when asked for

        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    msg = f"virtual_time takes 'asyncio' or 'trio', got {backend!r}"
    raise ValueError(msg)
