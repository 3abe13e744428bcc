"""Probe: how one endpoint chooses and judges checks; the four endpoints and their defaults."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

from ._check import Check, require_seconds
from ._status import Status

__all__ = ["DEFAULT_DETAILS", "DETAIL_LEVELS", "ENDPOINTS", "DetailLevel", "Probe", "default_tags", "select"]

_log = logging.getLogger("healthkit")

DetailLevel = Literal["never", "when_authorized", "always"]
DETAIL_LEVELS: tuple[str, ...] = get_args(DetailLevel)

#: endpoint name -> default path. The names are what ``health.run()`` takes.
ENDPOINTS = {"health": "/health", "livez": "/livez", "readyz": "/readyz", "startupz": "/startupz"}
#: endpoint name -> detail level when the Probe does not say
DEFAULT_DETAILS: dict[str, DetailLevel] = {
    "health": "when_authorized",
    "livez": "never",
    "readyz": "never",
    "startupz": "never",
}
#: endpoint name -> the tag that selects a check for it by default
_DEFAULT_TAGS = {"livez": "live", "readyz": "ready", "startupz": "startup"}


@dataclass(frozen=True, slots=True)
class Probe:
    """How one probe endpoint chooses and judges checks. Everything left out takes a default.

    - ``path``: ``/health``, ``/livez``, ``/readyz``, ``/startupz`` by default.
    - ``tags``: run the checks carrying any of these tags. By default the report runs every
      check, liveness the checks tagged ``live``, the startup probe ``startup``, and readiness
      those tagged ``ready`` plus every untagged check.
    - ``include`` / ``exclude``: check names added to or removed from that selection.
    - ``warn_only``: check names whose failure only degrades this probe to warn.
    - ``deadline``, ``status_codes``: as for ``Health``; the ``Health``'s by default.
    - ``timeout_seconds``, ``period_seconds``: what the kubelet's probe is configured with;
      healthkit warns at start-up when the deadline or the drain does not fit them.
    - ``details``: ``"never"`` (statuses only), ``"when_authorized"`` (everything, for requests
      the ``Health``'s ``authorize`` accepts) or ``"always"``. By default the report shows details
      when authorized, and the probes never.
    """

    path: str | None = None
    tags: Collection[str] | None = None
    include: Collection[str] = ()
    exclude: Collection[str] = ()
    warn_only: Collection[str] = ()
    deadline: float | None = None
    status_codes: Mapping[Status, int] | Mapping[str, int] | None = None
    timeout_seconds: float = 1.0
    period_seconds: float = 10.0
    details: DetailLevel | None = None

    def __post_init__(self) -> None:
        if self.details is not None and self.details not in DETAIL_LEVELS:
            msg = f"Probe details must be one of {', '.join(map(repr, DETAIL_LEVELS))}, got {self.details!r}"
            raise ValueError(msg)
        path = self.path
        if path is not None and not (
            isinstance(path, str) and path.startswith("/") and not path.endswith("/")
        ):
            msg = (
                f"Probe path must start with '/' and not end with one, like '/readyz' (not '/'; for "
                f"HAProxy's default check use health.routes(root=True)), got {path!r}"
            )
            raise ValueError(msg)
        for field in ("tags", "include", "exclude", "warn_only"):
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
                msg = f"Probe {field} must be a collection of non-empty strings, got {value!r}"
                raise TypeError(msg)
            object.__setattr__(self, field, frozenset(value))
        if self.deadline is not None:
            require_seconds("Probe", "deadline", self.deadline)
        require_seconds("Probe", "timeout_seconds", self.timeout_seconds)
        require_seconds("Probe", "period_seconds", self.period_seconds)


def default_tags(endpoint: str, probe: Probe) -> frozenset[str]:
    """The tags that select checks for ``endpoint`` (none for the report, which runs all)."""
    if probe.tags is not None:
        return frozenset(probe.tags)
    tag = _DEFAULT_TAGS.get(endpoint)
    return frozenset() if tag is None else frozenset({tag})


T = TypeVar("T")


def select(endpoint: str, probe: Probe, checks: Sequence[Check], items: Sequence[T]) -> list[T]:
    """The items (one per check, in registration order) whose checks ``endpoint`` runs; refuses
    names that are not registered."""
    names = {check.name for check in checks}
    for field in ("include", "exclude", "warn_only"):
        unknown = sorted(set(getattr(probe, field)) - names)
        if unknown:
            msg = (
                f"{endpoint} {field} names {', '.join(map(repr, unknown))}, which is not a registered "
                f"check; the checks are: {', '.join(sorted(names)) or 'none'}"
            )
            raise ValueError(msg)
    tags = probe.tags

    def chosen(check: Check) -> bool:
        if check.name in probe.exclude:
            return False
        if check.name in probe.include:
            return True
        if tags is not None:
            return bool(check.tags & tags)  # type: ignore[operator]
        if endpoint == "health":
            return True
        if endpoint == "readyz":
            return "ready" in check.tags or not check.tags
        return _DEFAULT_TAGS[endpoint] in check.tags

    selected = [item for check, item in zip(checks, items, strict=True) if chosen(check)]
    if tags is not None and not any(check.tags & tags for check in checks):  # type: ignore[operator]
        _log.warning("%s: no check carries any of the tags %s", endpoint, sorted(tags))
    return selected
