"""The health+json document and the text listing. The only module that speaks camelCase.

Everything rendered here was redacted and cut when it came in: rendering only shapes and
serializes. A document of fresh results (calls made for this answer) is serialized at once. When
results are served again, each check's part of the document is serialized once per call, in two
pieces around its age, and reused for every probe that serves that call's result again: per
probe only the ages are serialized, and the pieces joined. The document's start is serialized
once per overall status (and reason), its end once.
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

    __slots__ = ("_end", "_head", "_links", "_parts", "_starts", "_withheld")

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
        # What follows the checks: the service's links, then the document's last brace.
        self._links = dict(links) if links else None
        self._end = b',"links":' + orjson.dumps(self._links) + b"}" if links else b"}"
        # (status, reason) -> the document up to its checks, without the closing brace
        self._starts: dict[tuple[Status, str | None], bytes] = {}
        # check name -> (the call's report, its part up to its age, after it, whole without one)
        self._parts: dict[str, tuple[CheckReport, bytes, bytes, bytes]] = {}
        # (status, (name, status) per check) -> the statuses-only body
        self._withheld: dict[tuple[object, ...], bytes] = {}

    def render(self, report: Report, *, details: bool) -> bytes:
        """The document, as bytes. Without ``details``: the status and each check's status."""
        entries = _entries(report.checks)
        if not details:
            return self._statuses(report.status, entries)
        for _, age in entries:
            if age is not None:
                break
        else:
            return self._whole(report, entries)  # nothing served again: nothing to reuse
        out = [self._start(report.status, report.reason)]
        if entries:
            out.append(b',"checks":{')
            first = len(out)  # each part starts with a comma: the first one's is cut below
            parts = self._parts
            for record, age in entries:
                part = parts.get(record.check.name)
                if part is None or part[0] is not record:
                    part = self._part(record)
                if age is None:
                    age = record.age  # a report made with its age (a stale background result)
                if age is None:
                    out.append(part[3])
                else:
                    # In ms to the µs: round(age * 1000, 3), three times faster.
                    out += (part[1], orjson.dumps(round(age * 1e6) / 1000), part[2])
            out[first] = out[first][1:]
            out.append(b"}")
        out.append(self._end)
        return b"".join(out)

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

    def _whole(self, report: Report, entries: list[tuple[CheckReport, float | None]]) -> bytes:
        """The document serialized at once: for results of calls made for this answer."""
        document: dict[str, Any] = {"status": report.status, **self._head}
        if report.reason is not None and report.status is not Status.PASS:
            document["output"] = report.reason
        if entries:
            document["checks"] = {
                record.check.name: [_check_object(record, record.age)] for record, _ in entries
            }
        if self._links:
            document["links"] = self._links
        return orjson.dumps(document, option=_DUMPS_OPTIONS)

    def _start(self, status: Status, reason: str | None) -> bytes:
        """The document's start: its status, the service's fields and the reason (output)."""
        if status is Status.PASS:
            reason = None
        start = self._starts.get((status, reason))
        if start is None:
            document: dict[str, Any] = {"status": status, **self._head}
            if reason is not None:
                document["output"] = reason
            start = orjson.dumps(document)[:-1]
            if len(self._starts) >= _STATUS_BODIES:
                self._starts.clear()  # bounded: reasons (set_ready's) may be many
            self._starts[status, reason] = start
        return start

    def _part(self, record: CheckReport) -> tuple[CheckReport, bytes, bytes, bytes]:
        """A call's part of the document, ``,"name":[{...}]``, serialized once: before its age
        (``ageMs`` follows ``durationMs``), after it, and whole without an age."""
        name = record.check.name
        part = _check_object(record, None)
        links = part.pop("links", None)
        start = b"," + orjson.dumps({name: [part]}, option=_DUMPS_OPTIONS)[1:-3]  # no {, }]}
        end = b',"links":' + orjson.dumps(links) + b"}]" if links else b"}]"
        made = self._parts[name] = (record, start + b',"ageMs":', end, start + end)
        return made


#: Statuses-only bodies kept at most (one per set of statuses seen).
_STATUS_BODIES = 256


def _entries(checks: Mapping[str, CheckReport]) -> list[tuple[CheckReport, float | None]]:
    """(a call's report, its age when served again) per check, from healthkit's CheckReports or
    any mapping of CheckReports."""
    if isinstance(checks, CheckReports):
        return list(checks.entries())
    return [(item.origin or item, item.age if item.origin is not None else None) for item in checks.values()]


def _check_object(item: CheckReport, age: float | None) -> dict[str, Any]:
    """A check's object in the document, with ``age`` (seconds) unless it is None."""
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
    if age is not None:
        part["ageMs"] = round(age * 1e6) / 1000  # ms to the µs, as Document.render adds it
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
