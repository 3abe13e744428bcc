"""Report: what one run of an endpoint found, typed, for code as for HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Generic, Protocol, TypeVar

from ._events import Changes
from ._loops import asyncio_loop
from ._outcome import CheckReport
from ._status import Status

__all__ = ["CheckReports", "Kept", "Renderer", "Report", "keep", "later", "new_report"]

T = TypeVar("T")


class Renderer(Protocol):
    """Turns a report into bytes (``_render.Document``)."""

    def render(self, report: Report, *, details: bool) -> bytes: ...

    def render_text(self, report: Report, *, details: bool) -> bytes: ...


class CheckReports(Mapping[str, CheckReport]):
    """Each check's report by name, in registration order (``report.checks``).

    A result served again (from the cache or the background refresh) is kept as its call's
    report and its age; its aged copy (``CheckReport.age`` set) is made only when read, so a
    probe that only sends statuses allocates nothing per check.
    """

    __slots__ = ("_aged", "_ages", "_index", "fresh_until", "records")

    def __init__(
        self,
        records: Sequence[CheckReport],
        ages: Sequence[float | None] | None = None,
        fresh_until: float | None = None,
    ) -> None:
        self.records = records  # the calls' own reports, in order
        self._ages = ages  # per record: seconds since its call ended when served again, else None
        # When every record was served again: the time (loop clock) until which all of them
        # still would be, so an answer made of them holds until then. Else None.
        self.fresh_until = fresh_until
        self._aged: dict[int, CheckReport] = {}
        self._index: dict[str, int] | None = None

    def later(self, seconds: float) -> CheckReports:
        """These reports served again ``seconds`` later: every age grown by that much."""
        ages = self._ages
        if ages is not None:
            ages = [None if age is None else age + seconds for age in ages]
        return CheckReports(self.records, ages, self.fresh_until)

    def entries(self) -> Iterator[tuple[CheckReport, float | None]]:
        """(the call's report, its age when served again, else None), in order."""
        ages = self._ages
        if ages is None:
            for record in self.records:
                yield record, None
        else:
            yield from zip(self.records, ages, strict=True)

    def _at(self, position: int) -> CheckReport:
        ages = self._ages
        age = None if ages is None else ages[position]
        if age is None:
            return self.records[position]
        aged = self._aged.get(position)
        if aged is None:
            aged = self._aged[position] = self.records[position].aged(age)
        return aged

    def __getitem__(self, name: str) -> CheckReport:
        index = self._index
        if index is None:
            index = self._index = {record.check.name: i for i, record in enumerate(self.records)}
        return self._at(index[name])

    def __iter__(self) -> Iterator[str]:
        return (record.check.name for record in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"CheckReports({dict(self)!r})"


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of one run of an endpoint (``await health.run("readyz")``).

    ``status`` is the overall status (a non-critical check's fail counts as warn), and
    ``status_code`` the HTTP status that endpoint's mapping gives it. ``reason`` says why
    readiness fails whatever the checks say (``starting: ...``, ``not ready: maintenance``,
    ``shutting down: ...``), else ``None``. ``checks`` maps each check's name to its
    ``CheckReport``, in registration order; ``excluded`` names the checks left out on request.
    """

    endpoint: str
    status: Status
    status_code: int
    checks: Mapping[str, CheckReport]
    reason: str | None = None
    excluded: tuple[str, ...] = ()
    #: Lines the text listing puts first: the lifecycle's (name, status, output).
    lifecycle: tuple[tuple[str, Status, str | None], ...] = ()
    _renderer: Renderer | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """Whether the endpoint passes: pass or warn."""
        return self.status is not Status.FAIL

    def to_json(self) -> bytes:
        """The application/health+json document the endpoint sends at full detail."""
        assert self._renderer is not None
        return self._renderer.render(self, details=True)

    def to_text(self) -> bytes:
        """The plain-text listing (``?verbose``) the endpoint sends at full detail."""
        assert self._renderer is not None
        return self._renderer.render_text(self, details=True)


_SETTERS = tuple(getattr(Report, f.name).__set__ for f in fields(Report))


def new_report(
    endpoint: str,
    status: Status,
    status_code: int,
    checks: Mapping[str, CheckReport],
    reason: str | None,
    excluded: tuple[str, ...],
    lifecycle: tuple[tuple[str, Status, str | None], ...],
    renderer: Renderer,
) -> Report:
    """A Report, made on every probe: the slots are filled directly, without the frozen
    dataclass's slower __init__."""
    report: Report = object.__new__(Report)
    s = _SETTERS
    s[0](report, endpoint)
    s[1](report, status)
    s[2](report, status_code)
    s[3](report, checks)
    s[4](report, reason)
    s[5](report, excluded)
    s[6](report, lifecycle)
    s[7](report, renderer)
    return report


def later(report: Report, seconds: float) -> Report:
    """``report`` as a run ``seconds`` after it would make it, every check served again: the
    same results, older."""
    checks = report.checks
    assert type(checks) is CheckReports
    return new_report(
        report.endpoint,
        report.status,
        report.status_code,
        checks.later(seconds),
        report.reason,
        report.excluded,
        report.lifecycle,
        report._renderer,  # type: ignore[arg-type]
    )


class Kept(Generic[T]):
    """What was made from a report of fresh results (an answer, the report itself), kept for the
    probes after it. It holds while the count of changes is the one it was made at, on the same
    asyncio loop, until the first of its results goes stale (``until``, on that loop's clock)."""

    __slots__ = ("clock", "count", "loop", "made", "until", "value")

    def __init__(self, value: T, count: int, loop: asyncio.AbstractEventLoop, until: float) -> None:
        self.value = value
        self.count = count
        self.loop = loop
        self.clock = loop.time
        self.made = loop.time()
        self.until = until

    def now(self, changes: Changes) -> float | None:
        """The loop's time while this holds, else None."""
        if self.count != changes.count or asyncio._get_running_loop() is not self.loop:
            return None
        now = self.clock()
        return now if now < self.until else None


def keep(value: T, report: Report, count: int) -> Kept[T] | None:
    """``value``, made from ``report``, kept when it holds beyond this probe: every check was
    served again from a result that stays fresh until a known time, and the lifecycle gave no
    reason; ``count`` is the count of changes read before the run began. None otherwise, and on
    trio (whose runs are never kept)."""
    checks = report.checks
    if report.reason is not None or type(checks) is not CheckReports or checks.fresh_until is None:
        return None
    loop = asyncio_loop()
    return None if loop is None else Kept(value, count, loop, checks.fresh_until)
