"""Settings: everything a Health is configured with, checked once, as one record."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ._check import Check, require_seconds, require_text, validate_links
from ._endpoint import DEFAULT_STATUS_CODES, Authorizer, validate_status_codes
from ._probe import ENDPOINTS, Probe, default_tags
from ._status import Status

__all__ = ["DEFAULT_DEADLINE", "Settings"]

#: Seconds after which every unfinished check is reported as timed out and the answer is sent.
#: Below the kubelet's default probe timeout (1 s), with room for the request around it.
DEFAULT_DEADLINE = 0.8

#: Health's keyword for each endpoint's Probe
PROBE_ARGUMENTS = {"health": "report", "livez": "liveness", "readyz": "readiness", "startupz": "startup"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """A Health's configuration, validated when it is made: every error names the value and
    says what is allowed. ``probes`` maps each endpoint name to its Probe (given or default)."""

    checks: tuple[Check, ...]
    deadline: float = DEFAULT_DEADLINE
    status_codes: Mapping[Status, int] = field(default_factory=lambda: DEFAULT_STATUS_CODES)
    service_id: str | None = None
    version: str | None = None
    release_id: str | None = None
    description: str | None = None
    notes: tuple[str, ...] = ()
    links: Mapping[str, str] | None = None
    cache_control: str | None = "no-store"
    max_threads: int = 8
    cache_ttl: float = 0.0
    probes: Mapping[str, Probe] = field(default_factory=dict)
    drain_delay: float | None = None
    redact: tuple[str | re.Pattern[str], ...] = ()
    expose_errors: bool = False
    authorize: Authorizer | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "checks", _validate_checks(self.checks))
        require_seconds("Health", "deadline", self.deadline)
        require_seconds("Health", "cache_ttl", self.cache_ttl, allow_zero=True)
        if self.drain_delay is not None:
            require_seconds("Health", "drain_delay", self.drain_delay, allow_zero=True)
        set_(self, "deadline", float(self.deadline))
        set_(self, "cache_ttl", float(self.cache_ttl))
        set_(self, "status_codes", MappingProxyType(validate_status_codes(self.status_codes)))
        for what in ("service_id", "version", "release_id", "description"):
            require_text(f"Health {what}", getattr(self, what))
        notes = self.notes
        if isinstance(notes, str) or not all(isinstance(note, str) for note in notes):
            msg = f"Health notes must be a sequence of strings, got {notes!r}"
            raise TypeError(msg)
        for note in notes:
            require_text("Health notes", note)
        set_(self, "notes", tuple(notes))
        if self.links is not None:
            set_(self, "links", validate_links("Health links", self.links))
        cache_control = self.cache_control
        if cache_control is not None and not (
            isinstance(cache_control, str) and cache_control.isascii() and cache_control.isprintable()
        ):
            msg = (
                f"Health cache_control must be a printable ASCII header value or None, got {cache_control!r}"
            )
            raise ValueError(msg)
        threads = self.max_threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            msg = f"Health max_threads must be a whole number of at least 1, got {threads!r}"
            raise ValueError(msg)
        probes: dict[str, Probe] = {}
        for name in ENDPOINTS:
            probe = self.probes.get(name)
            if probe is not None and not isinstance(probe, Probe):
                msg = f"Health {PROBE_ARGUMENTS[name]} must be a Probe, got {probe!r}"
                raise TypeError(msg)
            probes[name] = probe or Probe()
        set_(self, "probes", MappingProxyType(probes))
        for check in self.checks:
            ttl = self.cache_ttl if check.cache_ttl is None else check.cache_ttl
            if check.stale_while_revalidate and not ttl:
                msg = (
                    f"Check {check.name!r}: stale_while_revalidate needs a cache: give the check or "
                    "the Health a cache_ttl above 0"
                )
                raise ValueError(msg)
        self._refuse_unused_tags()
        if not isinstance(self.expose_errors, bool):
            msg = f"Health expose_errors must be True or False, got {self.expose_errors!r}"
            raise TypeError(msg)
        if isinstance(self.redact, str | re.Pattern):
            msg = f"Health redact takes a list of patterns, got one: {self.redact!r}; write redact=[...]"
            raise TypeError(msg)
        set_(self, "redact", tuple(self.redact))
        if self.authorize is not None and not callable(self.authorize):
            given = self.authorize
            msg = f"Health authorize must be a callable taking the request (bearer_token), got {given!r}"
            raise TypeError(msg)

    def deadline_of(self, endpoint: str) -> float:
        probe = self.probes[endpoint]
        return self.deadline if probe.deadline is None else float(probe.deadline)

    def _refuse_unused_tags(self) -> None:
        """A tag no probe selects is a typo waiting to take a check out of readiness."""
        used = set().union(*(default_tags(name, probe) for name, probe in self.probes.items()))
        for check in self.checks:
            unused = sorted(check.tags - used)  # type: ignore[operator]
            if unused:
                msg = (
                    f"Check {check.name!r} has the tag {', '.join(map(repr, unused))}, which no probe "
                    f"selects; the tags in use are: {', '.join(sorted(used))} (or give a Probe tags=...)"
                )
                raise ValueError(msg)


def _validate_checks(checks: Iterable[Check]) -> tuple[Check, ...]:
    if isinstance(checks, Check) or not isinstance(checks, Iterable):
        msg = f"Health takes an iterable of Check, got {checks!r}"
        raise TypeError(msg)
    result = tuple(checks)
    seen: set[str] = set()
    for check in result:
        if not isinstance(check, Check):
            msg = f"Health takes Check records, got {check!r}; wrap a function as Check('name', fn)"
            raise TypeError(msg)
        if check.name in seen:
            msg = f"Check name {check.name!r} is registered twice; names must be unique"
            raise ValueError(msg)
        seen.add(check.name)
    return result


def probe_arguments(
    report: Probe | None, liveness: Probe | None, readiness: Probe | None, startup: Probe | None
) -> dict[str, Probe]:
    """Health's per-endpoint keywords as a mapping by endpoint name (the ones given)."""
    given = {"health": report, "livez": liveness, "readyz": readiness, "startupz": startup}
    return {name: probe for name, probe in given.items() if probe is not None}
