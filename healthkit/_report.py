"""Aggregation and the health+json document. The only module that speaks camelCase."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ._check import Check
from ._status import Status

__all__ = ["MAX_OUTPUT", "Document", "Observation", "clip", "render_text"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


#: Characters an output keeps; the rest is cut, saying how much there was.
MAX_OUTPUT = 1024


def clip(text: str, limit: int = MAX_OUTPUT) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... (cut, {len(text)} characters in all)"


_DUMPS_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(slots=True)
class Observation:
    """One check's outcome: what one call of it gave, as reported (after flap damping)."""

    check: Check
    status: Status
    time: datetime  # when the call started (wall clock)
    duration: float  # seconds
    output: str | None = None
    observed_value: Any = None
    observed_unit: str | None = None
    affected_endpoints: tuple[str, ...] = ()
    error: BaseException | None = None  # for the server's log only; never rendered
    age: float | None = None  # seconds since the call ended, when served from cache
    timed_out: bool = False
    rendered: dict[str, Any] | None = field(default=None, repr=False, compare=False)  # check object, once

    def served(self, age: float) -> Observation:
        """This outcome as served again, ``age`` seconds after its call ended."""
        if self.rendered is None:
            # The check object, made once: its output stays raw, masked and cut at each render.
            self.rendered = _check_object(self, _KEEP, cut=False)
        return Observation(
            self.check,
            self.status,
            self.time,
            self.duration,
            self.output,
            self.observed_value,
            self.observed_unit,
            self.affected_endpoints,
            self.error,
            age,
            self.timed_out,
            self.rendered,
        )


class Document:
    """Renders runs into application/health+json bodies; holds the service's static fields."""

    __slots__ = ("_head", "_redact", "_tail")

    def __init__(
        self,
        *,
        redact: Callable[[str], str],
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
        self._redact = redact
        self._tail: dict[str, Any] = {"links": dict(links)} if links else {}

    def render(
        self,
        status: Status,
        observations: Sequence[Observation],
        output: str | None = None,
        *,
        details: bool = True,
    ) -> bytes:
        """The document for one run, as bytes. ``output`` explains a warn or fail at the top.
        Without ``details``: the status and each check's status, nothing else."""
        if not details:
            withheld: dict[str, Any] = {"status": status.value}
            if observations:
                withheld["checks"] = {obs.check.name: [{"status": obs.status.value}] for obs in observations}
            return orjson.dumps(withheld)
        document: dict[str, Any] = {"status": status.value, **self._head}
        if output is not None and status is not Status.PASS:
            document["output"] = clip(self._redact(output))
        if observations:
            document["checks"] = {obs.check.name: [_check_object(obs, self._redact)] for obs in observations}
        if self._tail:
            document.update(self._tail)
        return orjson.dumps(document, option=_DUMPS_OPTIONS)

    def render_text(
        self,
        probe: str,
        passed: bool,
        lines: Sequence[tuple[str, Status, str | None]],
        *,
        details: bool = True,
    ) -> bytes:
        """The plain-text listing, outputs redacted (or, without ``details``, withheld)."""
        if not details:
            return render_text(
                probe, passed, [(n, s, None if s is Status.PASS else "reason withheld") for n, s, _ in lines]
            )
        return render_text(probe, passed, [(name, s, o and clip(self._redact(o))) for name, s, o in lines])


def _keep(text: str) -> str:
    return text


_KEEP: Callable[[str], str] = _keep


def _check_object(obs: Observation, redact: Callable[[str], str], *, cut: bool = True) -> dict[str, Any]:
    if obs.rendered is not None:
        # A served copy: the check object of its call, made once, with this probe's age.
        served = dict(obs.rendered)
        if "output" in served:
            served["output"] = clip(redact(served["output"]))
        if obs.age is not None:
            served["ageMs"] = round(obs.age * 1000, 3)
        return served
    check = obs.check
    item: dict[str, Any] = {}
    if check.component_id is not None:
        item["componentId"] = check.component_id
    if check.component_type is not None:
        item["componentType"] = check.component_type
    if obs.observed_value is not None:
        item["observedValue"] = obs.observed_value
        if obs.observed_unit is not None:
            item["observedUnit"] = obs.observed_unit
    item["status"] = obs.status.value
    if obs.status is not Status.PASS:
        # The draft: output and affectedEndpoints SHOULD be omitted for pass.
        if obs.affected_endpoints:
            item["affectedEndpoints"] = list(obs.affected_endpoints)
        if obs.output is not None:
            item["output"] = clip(redact(obs.output)) if cut else obs.output
    item["time"] = obs.time
    item["durationMs"] = round(obs.duration * 1000, 3)
    if obs.age is not None:
        item["ageMs"] = round(obs.age * 1000, 3)
    if check.links:
        item["links"] = check.links
    return item


def render_text(probe: str, passed: bool, lines: Sequence[tuple[str, Status, str | None]]) -> bytes:
    """The Kubernetes API server's plain-text listing: a line per check, then the verdict.

    ``[+]postgres ok``, ``[+]redis warn: slow replica``, ``[-]cache failed: timed out after 0.5s``,
    and last ``readyz check passed`` (or ``failed``).
    """
    out = []
    for name, status, raw in lines:
        output = raw and _CONTROL.sub(_escape, raw)  # no output can forge a line of the listing
        if status is Status.PASS:
            out.append(f"[+]{name} ok")
        elif status is Status.WARN:
            out.append(f"[+]{name} warn: {output}" if output else f"[+]{name} warn")
        else:
            out.append(f"[-]{name} failed: {output}" if output else f"[-]{name} failed")
    out.append(f"{probe} check {'passed' if passed else 'failed'}")
    return ("\n".join(out) + "\n").encode()
