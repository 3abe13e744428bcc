"""The health+json document and the text listing. The only module that speaks camelCase.

Everything rendered here was redacted and cut when it came in: rendering only shapes and
serializes. A check's part of the document is made once per call and reused for every probe
that serves that call's result again; only its age is added per probe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ._outcome import CheckReport
from ._report import Report
from ._status import Status
from ._text import escape_controls

__all__ = ["Document", "render_text"]

_DUMPS_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class Document:
    """Renders reports as application/health+json and text; holds the service's own fields."""

    __slots__ = ("_head", "_parts", "_tail")

    def __init__(
        self,
        *,
        version: str | None,
        release_id: str | None,
        service_id: str | None,
        description: str | None,
        notes: Sequence[str],
        links: Mapping[str, str] | None,
    ) -> None:
        # Field order follows the draft's example: status, version, releaseId, notes, ... checks, links.
        head: dict[str, Any] = {}
        if version is not None:
            head["version"] = version
        if release_id is not None:
            head["releaseId"] = release_id
        if notes:
            head["notes"] = list(notes)
        if service_id is not None:
            head["serviceId"] = service_id
        if description is not None:
            head["description"] = description
        self._head = head
        self._tail: dict[str, Any] = {"links": dict(links)} if links else {}
        # check name -> (the call's report, its check object): made once per call
        self._parts: dict[str, tuple[CheckReport, dict[str, Any]]] = {}

    def render(self, report: Report, *, details: bool) -> bytes:
        """The document, as bytes. Without ``details``: the status and each check's status."""
        checks = report.checks
        if not details:
            # Statuses are str enums: orjson writes their values.
            withheld: dict[str, Any] = {"status": report.status}
            if checks:
                withheld["checks"] = {name: [{"status": item.status}] for name, item in checks.items()}
            return orjson.dumps(withheld)
        document: dict[str, Any] = {"status": report.status, **self._head}
        if report.reason is not None and report.status is not Status.PASS:
            document["output"] = report.reason
        if checks:
            document["checks"] = {name: [self._part(item)] for name, item in checks.items()}
        if self._tail:
            document.update(self._tail)
        return orjson.dumps(document, option=_DUMPS_OPTIONS)

    def render_text(self, report: Report, *, details: bool) -> bytes:
        """The Kubernetes API server's plain-text listing; without ``details``, reasons withheld."""
        lines = [*report.lifecycle, *((name, c.status, c.output) for name, c in report.checks.items())]
        if not details:
            lines = [(name, s, None if s is Status.PASS else "reason withheld") for name, s, _ in lines]
        lines += [(f"{name} excluded:", Status.PASS, None) for name in report.excluded]
        return render_text(report.endpoint, report.passed, lines)

    def _part(self, item: CheckReport) -> dict[str, Any]:
        origin = item.origin
        if origin is None:
            return _check_object(item)
        cached = self._parts.get(item.check.name)
        if cached is None or cached[0] is not origin:
            cached = self._parts[item.check.name] = (origin, _check_object(origin))
        part = dict(cached[1])
        if item.age is not None:
            part["ageMs"] = round(item.age * 1000, 3)
        return part


def _check_object(item: CheckReport) -> dict[str, Any]:
    check = item.check
    part: dict[str, Any] = {}
    if check.component_id is not None:
        part["componentId"] = check.component_id
    if check.component_type is not None:
        part["componentType"] = check.component_type
    if item.observed_value is not None:
        part["observedValue"] = item.observed_value
        if item.observed_unit is not None:
            part["observedUnit"] = item.observed_unit
    part["status"] = item.status
    if item.status is not Status.PASS:
        # The draft: output and affectedEndpoints SHOULD be omitted for pass.
        if item.affected_endpoints:
            part["affectedEndpoints"] = list(item.affected_endpoints)
        if item.output is not None:
            part["output"] = item.output
    part["time"] = item.time
    part["durationMs"] = round(item.duration * 1000, 3)
    if item.age is not None:
        part["ageMs"] = round(item.age * 1000, 3)
    if check.links:
        part["links"] = check.links
    return part


def render_text(endpoint: str, passed: bool, lines: Sequence[tuple[str, Status, str | None]]) -> bytes:
    """A line per check, then the verdict: ``[+]postgres ok``, ``[+]redis warn: slow replica``,
    ``[-]cache failed: timed out after 0.5s``, and last ``readyz check passed`` (or ``failed``)."""
    out = []
    for name, status, raw in lines:
        output = raw and escape_controls(raw)  # no output can forge a line of the listing
        if status is Status.PASS:
            out.append(f"[+]{name} ok")
        elif status is Status.WARN:
            out.append(f"[+]{name} warn: {output}" if output else f"[+]{name} warn")
        else:
            out.append(f"[-]{name} failed: {output}" if output else f"[-]{name} failed")
    out.append(f"{endpoint} check {'passed' if passed else 'failed'}")
    return ("\n".join(out) + "\n").encode()
