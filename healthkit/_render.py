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
from ._report import CheckReports, Report
from ._status import Status
from ._text import escape_controls

__all__ = ["Document", "render_text"]

_DUMPS_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class Document:
    """Renders reports as application/health+json and text; holds the service's own fields."""

    __slots__ = ("_head", "_parts", "_tail", "_withheld")

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
        # (status, (name, status) per check) -> the statuses-only body
        self._withheld: dict[tuple[object, ...], bytes] = {}

    def render(self, report: Report, *, details: bool) -> bytes:
        """The document, as bytes. Without ``details``: the status and each check's status."""
        entries = _entries(report.checks)
        if not details:
            return self._statuses(report.status, entries)
        document: dict[str, Any] = {"status": report.status, **self._head}
        if report.reason is not None and report.status is not Status.PASS:
            document["output"] = report.reason
        if entries:
            document["checks"] = {record.check.name: [self._part(record, age)] for record, age in entries}
        if self._tail:
            document.update(self._tail)
        return orjson.dumps(document, option=_DUMPS_OPTIONS)

    def render_text(self, report: Report, *, details: bool) -> bytes:
        """The Kubernetes API server's plain-text listing; without ``details``, reasons withheld."""
        checks = ((record.check.name, record.status, record.output) for record, _ in _entries(report.checks))
        lines = [*report.lifecycle, *checks]
        if not details:
            lines = [(name, s, None if s is Status.PASS else "reason withheld") for name, s, _ in lines]
        lines += [(f"{name} excluded:", Status.PASS, None) for name in report.excluded]
        return render_text(report.endpoint, report.passed, lines)

    def _statuses(self, status: Status, entries: list[tuple[CheckReport, float | None]]) -> bytes:
        """The statuses-only body: the same bytes for the same statuses, made once for each."""
        key = (status, *((record.check.name, record.status) for record, _ in entries))
        body = self._withheld.get(key)
        if body is None:
            # Statuses are str enums: orjson writes their values.
            withheld: dict[str, Any] = {"status": status}
            if entries:
                withheld["checks"] = {record.check.name: [{"status": record.status}] for record, _ in entries}
            body = orjson.dumps(withheld)
            if len(self._withheld) >= _STATUS_BODIES:
                self._withheld.clear()  # bounded: statuses of many subsets seldom repeat
            self._withheld[key] = body
        return body

    def _part(self, record: CheckReport, age: float | None) -> dict[str, Any]:
        """A check's part of the document: made once per call, its age added per answer."""
        name = record.check.name
        cached = self._parts.get(name)
        if cached is None or cached[0] is not record:
            cached = self._parts[name] = (record, _check_object(record))
        if age is None:
            return cached[1]
        part = dict(cached[1])
        part["ageMs"] = round(age * 1000, 3)
        return part


#: Statuses-only bodies kept at most (one per set of statuses seen).
_STATUS_BODIES = 256


def _entries(checks: Mapping[str, CheckReport]) -> list[tuple[CheckReport, float | None]]:
    """(a call's report, its age when served again) per check, from healthkit's CheckReports or
    any mapping of CheckReports."""
    if isinstance(checks, CheckReports):
        return list(checks.entries())
    return [(item.origin or item, item.age if item.origin is not None else None) for item in checks.values()]


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
