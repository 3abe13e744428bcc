"""Check (what is registered) and Result (what a check may return)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._status import Status

__all__ = ["DEFAULT_TIMEOUT", "Check", "CheckFunction", "Result"]

#: Seconds a check may run when its registration does not say otherwise.
DEFAULT_TIMEOUT = 0.5

CheckFunction = Callable[[], Awaitable["Result | None"]] | Callable[[], "Result | None"]


@dataclass(frozen=True, slots=True)
class Result:
    """What a check returns when it has more to say than "pass".

    A check returns ``None`` to pass, returns a ``Result`` to report a status with details, and
    raises to fail. ``output`` is shown for warn and fail only, as the draft asks.
    """

    status: Status
    output: str | None = None
    observed_value: Any = None
    observed_unit: str | None = None
    affected_endpoints: Sequence[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        _require_optional_str("Result output", self.output)
        _require_optional_str("Result observed_unit", self.observed_unit)
        endpoints = self.affected_endpoints
        if isinstance(endpoints, str) or not all(isinstance(e, str) for e in endpoints):
            msg = f"Result affected_endpoints must be a sequence of URI template strings, got {endpoints!r}"
            raise TypeError(msg)
        object.__setattr__(self, "affected_endpoints", tuple(endpoints))


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check: a name, a callable, and what healthkit should know about it.

    ``name`` is ``component`` or ``component:measurement`` (for example ``postgres:responseTime``).
    ``fn`` is an ``async def`` or a plain function taking no arguments; plain functions run in a
    worker thread. ``timeout`` is in seconds. A check that is not ``critical`` degrades the
    overall status to warn when it fails, instead of failing it.
    """

    name: str
    fn: CheckFunction
    component_type: str | None = None
    component_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    critical: bool = True
    links: Mapping[str, str] | None = None
    is_async: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_name(self.name)
        if not callable(self.fn):
            msg = f"Check {self.name!r}: fn must be a callable taking no arguments, got {self.fn!r}"
            raise TypeError(msg)
        timeout = self.timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            msg = f"Check {self.name!r}: timeout must be a number of seconds, got {timeout!r}"
            raise TypeError(msg)
        if not (timeout > 0 and math.isfinite(timeout)):
            msg = (
                f"Check {self.name!r}: timeout must be a positive, finite number of seconds, got {timeout!r}"
            )
            raise ValueError(msg)
        if not isinstance(self.critical, bool):
            msg = f"Check {self.name!r}: critical must be True or False, got {self.critical!r}"
            raise TypeError(msg)
        _require_optional_str(f"Check {self.name!r}: component_type", self.component_type)
        _require_optional_str(f"Check {self.name!r}: component_id", self.component_id)
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
    return dict(links)


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


def _require_optional_str(what: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"{what} must be a string or None, got {value!r}"
        raise TypeError(msg)


def _is_async_callable(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - an instance with async __call__
    return call is not None and inspect.iscoroutinefunction(call)
