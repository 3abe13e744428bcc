"""Report: what one run of an endpoint found, typed, for code as for HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Protocol

from ._outcome import CheckReport
from ._status import Status

__all__ = ["Renderer", "Report", "new_report"]


class Renderer(Protocol):
    """Turns a report into bytes (``_render.Document``)."""

    def render(self, report: Report, *, details: bool) -> bytes: ...

    def render_text(self, report: Report, *, details: bool) -> bytes: ...


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
