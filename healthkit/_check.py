"""Check (what is registered) and Result (what a check may return)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from ._status import Status

__all__ = [
    "DEFAULT_TIMEOUT",
    "Check",
    "CheckFunction",
    "Result",
    "require_seconds",
    "require_text",
    "validate_links",
]

#: Seconds a check may run when its registration does not say otherwise.
DEFAULT_TIMEOUT = 0.5

CheckFunction = Callable[[], Awaitable["Result | None"]] | Callable[[], "Result | None"]


@dataclass(frozen=True, slots=True, init=False)
class Result:
    """What a check returns when it has more to say than "pass".

    A check returns ``None`` to pass, returns a ``Result`` to report a status with details, and
    raises to fail. ``status`` is a ``Status`` or its name (``"warn"``, and the draft's aliases).
    ``output`` is shown for warn and fail only, as the draft asks.
    """

    status: Status
    output: str | None
    observed_value: Any
    observed_unit: str | None
    affected_endpoints: Sequence[str]

    def __init__(
        self,
        status: Status | str,
        output: str | None = None,
        observed_value: Any = None,
        observed_unit: str | None = None,
        affected_endpoints: Sequence[str] = (),
    ) -> None:
        _require_optional_str("Result output", output)
        _require_optional_str("Result observed_unit", observed_unit)
        endpoints = affected_endpoints if isinstance(affected_endpoints, str) else tuple(affected_endpoints)
        if isinstance(endpoints, str) or not all(isinstance(e, str) for e in endpoints):
            msg = f"Result affected_endpoints must be a sequence of URI template strings, got {endpoints!r}"
            raise TypeError(msg)
        set_ = object.__setattr__
        set_(self, "status", Status(status))
        set_(self, "output", output)
        set_(self, "observed_value", observed_value)
        set_(self, "observed_unit", observed_unit)
        set_(self, "affected_endpoints", endpoints)


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check: a name, a callable, and what healthkit should know about it.

    ``name`` is ``component`` or ``component:measurement`` (for example ``postgres:responseTime``).
    ``fn`` is an ``async def`` or a plain function taking no arguments; plain functions run in a
    worker thread. ``timeout`` is in seconds. A check that is not ``critical`` degrades the
    overall status to warn when it fails, instead of failing it.

    ``tags`` choose the probes that run the check: ``"live"`` (liveness), ``"ready"``
    (readiness; also every untagged check), ``"startup"`` (the startup probe), or your own.
    ``external`` marks a check of something outside this process (a database, another
    service): healthkit warns if such a check is in the liveness probe.

    Protecting the dependency (all in seconds):

    - ``cache_ttl``: reuse a result (failures too) this long; ``None`` takes the ``Health``'s.
    - ``stale_while_revalidate``: past ``cache_ttl``, serve the old result this much longer while
      one refresh runs in the background.
    - ``refresh_every``: run the check in the background (in the app's lifespan) at this interval,
      plus a random ``refresh_jitter`` (default a tenth of the interval), first after
      ``initial_delay``; probes answer from the latest result and never wait for it. A result
      older than ``max_age`` (default two intervals plus the jitter and the timeout) is a fail.

    Flap damping: a check reports fail only after ``failure_threshold`` failures in a row that
    have lasted at least ``max_time_in_error`` (until then it reports warn), and after failing it
    reports pass again only after ``success_threshold`` successes in a row.
    """

    name: str
    fn: CheckFunction
    _: KW_ONLY
    component_type: str | None = None
    component_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    critical: bool = True
    links: Mapping[str, str] | None = None
    tags: Collection[str] = ()
    external: bool = False
    cache_ttl: float | None = None
    stale_while_revalidate: float = 0.0
    refresh_every: float | None = None
    refresh_jitter: float | None = None
    initial_delay: float = 0.0
    max_age: float | None = None
    failure_threshold: int = 1
    success_threshold: int = 1
    max_time_in_error: float = 0.0
    is_async: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_name(self.name)
        if not callable(self.fn):
            msg = f"Check {self.name!r}: fn must be a callable taking no arguments, got {self.fn!r}"
            raise TypeError(msg)
        _require_no_arguments(self.name, self.fn)
        what = f"Check {self.name!r}:"
        require_seconds(what, "timeout", self.timeout)
        for setting in ("cache_ttl", "refresh_every", "refresh_jitter", "max_age"):
            value = getattr(self, setting)
            if value is not None:
                require_seconds(what, setting, value, allow_zero=setting in ("cache_ttl", "refresh_jitter"))
        for setting in ("stale_while_revalidate", "initial_delay", "max_time_in_error"):
            require_seconds(what, setting, getattr(self, setting), allow_zero=True)
        for setting in ("failure_threshold", "success_threshold"):
            value = getattr(self, setting)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{what} {setting} must be a whole number of at least 1, got {value!r}"
                raise ValueError(msg)
        if self.refresh_every is None:
            for setting in ("refresh_jitter", "max_age"):
                if getattr(self, setting) is not None:
                    msg = f"{what} {setting} applies to background checks only; set refresh_every too"
                    raise ValueError(msg)
            if self.initial_delay:
                msg = f"{what} initial_delay applies to background checks only; set refresh_every too"
                raise ValueError(msg)
        else:
            for setting in ("cache_ttl", "stale_while_revalidate"):
                if getattr(self, setting):
                    msg = (
                        f"{what} {setting} does not apply to a check with refresh_every: probes are always "
                        "answered from its latest background result (bound its age with max_age)"
                    )
                    raise ValueError(msg)
        for flag in ("critical", "external"):
            if not isinstance(getattr(self, flag), bool):
                msg = f"Check {self.name!r}: {flag} must be True or False, got {getattr(self, flag)!r}"
                raise TypeError(msg)
        tags = self.tags
        if isinstance(tags, str) or not all(isinstance(tag, str) and tag for tag in tags):
            msg = f"Check {self.name!r}: tags must be a collection of non-empty strings, got {tags!r}"
            raise TypeError(msg)
        object.__setattr__(self, "tags", frozenset(tags))
        require_text(f"Check {self.name!r}: component_type", self.component_type)
        require_text(f"Check {self.name!r}: component_id", self.component_id)
        if self.links is not None:
            object.__setattr__(self, "links", validate_links(f"Check {self.name!r}: links", self.links))
        object.__setattr__(self, "is_async", _is_async_callable(self.fn))


def validate_links(what: str, links: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``links`` after checking that it maps relation names to URI strings."""
    if not isinstance(links, Mapping) or not all(
        isinstance(rel, str) and rel and isinstance(uri, str) and uri for rel, uri in links.items()
    ):
        msg = f"{what} must map link relations to URIs, both non-empty strings, got {links!r}"
        raise TypeError(msg)
    for rel, uri in links.items():
        require_text(what, rel)
        require_text(what, uri)
    return dict(links)


def require_text(what: str, value: object) -> None:
    """Raise unless ``value`` is None or a string that can be sent as UTF-8."""
    if value is None:
        return
    if not isinstance(value, str):
        msg = f"{what} must be a string or None, got {value!r}"
        raise TypeError(msg)
    try:
        value.encode()
    except UnicodeEncodeError:
        msg = f"{what} must be text that encodes as UTF-8 (no lone surrogates), got {value!r}"
        raise ValueError(msg) from None


def _validate_name(name: object) -> None:
    if not isinstance(name, str):
        msg = f"Check name must be a string, got {name!r}"
        raise TypeError(msg)
    parts = name.split(":")
    if (
        len(parts) > 2
        or not all(parts)
        or any(part != part.strip() for part in parts)
        or not name.isprintable()
    ):
        msg = (
            f"Check name {name!r} must be 'component' or 'component:measurement': "
            "non-empty parts, at most one ':', no surrounding spaces or control characters"
        )
        raise ValueError(msg)


def require_seconds(what: str, setting: str, value: object, *, allow_zero: bool = False) -> None:
    """Raise unless ``value`` is a positive (or, ``allow_zero``, non-negative) finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{what} {setting} must be a number of seconds, got {value!r}"
        raise TypeError(msg)
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not (math.isfinite(value) and (value >= 0 if allow_zero else value > 0)):
        kind = "non-negative" if allow_zero else "positive"
        msg = f"{what} {setting} must be a {kind}, finite number of seconds, got {value!r}"
        raise ValueError(msg)


def _require_optional_str(what: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"{what} must be a string or None, got {value!r}"
        raise TypeError(msg)


def _require_no_arguments(name: str, fn: Callable[..., object]) -> None:
    """Refuse a callable that cannot be called with no arguments: it would fail every probe."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # some builtins have no signature to read; they are taken as they are
    try:
        signature.bind()
    except TypeError:
        required = [
            p.name
            for p in signature.parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        msg = (
            f"Check {name!r}: fn must be callable with no arguments, but {fn!r} requires "
            f"{', '.join(map(repr, required))}; bind them first (functools.partial or a lambda)"
        )
        raise TypeError(msg) from None


def _is_async_callable(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - an instance with async __call__
    return call is not None and inspect.iscoroutinefunction(call)
