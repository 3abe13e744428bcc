"""An application's Health, loaded from ``MODULE:ATTR``: run in-process (``healthkit run``) and
described (``healthkit describe``).

Only these two commands import this module: the probe needs none of the engine.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

import anyio

from ._check import Check
from ._endpoint import validate_status_codes
from ._health import Health
from ._probe import DEFAULT_DETAILS, ENDPOINTS, select
from ._rebuild import rebuilt
from ._report import Report
from ._text import escape_controls, seconds

__all__ = ["UsageError", "describe", "load", "run", "show_log", "survey"]

_log = logging.getLogger("healthkit")

#: What each endpoint's lifecycle adds to its checks (README, "Probes").
_LIFECYCLE = {
    "health": "none: the full report",
    "livez": "none: passes during startup and the drain",
    "readyz": "fails until startup is complete, while marked not ready (set_ready)",
    "startupz": "once its checks have passed, passes without running them again",
}


class UsageError(Exception):
    """The command cannot run: a bad ``MODULE:ATTR``, or something that is not a Health."""


def survey(health: Health) -> tuple[dict[str, list[Check]], list[str]]:
    """Which checks each endpoint runs, and the warnings healthkit logs for ``health``'s settings
    when its endpoints are mounted: heard from a copy built and mounted here, so that nothing
    else the app logs (another Health's warnings, ``set_ready``) is mixed in."""
    heard: list[str] = []

    class Hear(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if message not in heard:
                heard.append(message)

    hear = Hear(logging.WARNING)
    _log.addHandler(hear)
    try:
        copy = rebuilt(health)  # warns about /health and about tags no check carries
        copy.routes()  # warns about the probes
        checks = copy.checks
        chosen = {name: select(name, probe, checks, checks) for name, probe in copy.probes.items()}
    finally:
        _log.removeHandler(hear)
    return chosen, heard


def load(target: str, app_dir: str = ".") -> Health:
    """The ``Health`` that ``MODULE:ATTR`` names (ATTR may be dotted). ``app_dir`` goes first on
    ``sys.path``, as uvicorn's ``--app-dir`` does, so that the app's own modules import."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        msg = f"expected MODULE:ATTR naming a Health, like myapp.health:health, got {target!r}"
        raise UsageError(msg)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        wanted = module_name.split(".")
        if exc.name not in {".".join(wanted[: i + 1]) for i in range(len(wanted))}:
            raise  # a module the app imports is missing: the app's traceback says which
        msg = f"no module named {exc.name!r} (looked in {app_dir!r} and on sys.path)"
        raise UsageError(msg) from None
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            msg = f"{module_name!r} has no attribute {attribute!r}; {_healths_in(module)}"
            raise UsageError(msg) from None
    if not isinstance(found, Health):
        kind = type(found).__qualname__
        if type(found).__module__ != "builtins":
            kind = f"{type(found).__module__}.{kind}"
        msg = f"{target} is a {kind}, not a healthkit.Health; {_healths_in(module)}"
        raise UsageError(msg)
    return found


def _healths_in(module: ModuleType) -> str:
    names = sorted(name for name, value in vars(module).items() if isinstance(value, Health))
    if not names:
        return f"{module.__name__} has no Health at module level"
    return f"the Health objects in {module.__name__} are: {', '.join(names)}"


def show_log(verbose: bool) -> None:
    """Where healthkit's log goes for this command: stderr from INFO up, with tracebacks
    (``verbose``), or nowhere of healthkit's doing (the report says what failed). Handlers the
    app configured itself (``logging.basicConfig``) get the records either way."""
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        _log.setLevel(min(_log.getEffectiveLevel(), logging.INFO))
    else:
        handler = logging.NullHandler()  # a handler: Python's last resort (stderr) stays out
    _log.addHandler(handler)


def run(health: Health, endpoint: str, *, check: str | None = None, backend: str = "asyncio") -> Report:
    """Run one endpoint (or one check of it) in-process, inside ``health.running()`` as a served
    app would: background checks get their first call (``initial_delay`` permitting) instead of
    failing with "background refresh is not running"."""
    if check is not None:
        names = [c.name for c in select(endpoint, health.probes[endpoint], health.checks, health.checks)]
        if check not in names:
            msg = f"{endpoint} has no check named {check!r}; its checks are: {', '.join(names) or 'none'}"
            raise UsageError(msg)

    async def main() -> Report:
        async with health.running():
            return await health.run(endpoint, check=check)

    return anyio.run(main, backend=backend)


def describe(health: Health) -> str:
    """Which endpoint runs which checks, with every setting that decides how they run, and the
    start-up warnings."""
    selections, warnings = survey(health)
    settings = health.settings
    checks = settings.checks
    runs_on: dict[str, list[str]] = {check.name: [] for check in checks}
    lines = [
        f"Health with {len(checks)} check{'' if len(checks) == 1 else 's'}",
        f"  deadline {seconds(settings.deadline)}, cache_ttl {_ttl(settings.cache_ttl)}, "
        f"max_threads {settings.max_threads}, drain_delay "
        + ("none" if settings.drain_delay is None else seconds(settings.drain_delay)),
    ]
    about = [
        f"{field} {value!r}"
        for field in ("service_id", "version", "release_id")
        if (value := getattr(settings, field)) is not None
    ]
    about.append(f"authorize {'set' if settings.authorize is not None else 'none'}")
    about.append(f"expose_errors {'yes' if settings.expose_errors else 'no'}")
    lines += ["  " + ", ".join(about), "", "endpoints:"]
    for name, probe in settings.probes.items():
        chosen = selections[name]
        for check in chosen:
            runs_on[check.name].append(name)
        codes = validate_status_codes(probe.status_codes or settings.status_codes)
        lines.append(f"  {name}  {probe.path or ENDPOINTS[name]}")
        lines.append(f"    checks: {', '.join(check.name for check in chosen) or 'none'}")
        lines.append(
            f"    deadline {seconds(settings.deadline_of(name))}; status codes "
            + ", ".join(f"{status} {code}" for status, code in codes.items())
            + f"; details {probe.details or DEFAULT_DETAILS[name]}"
        )
        if probe.warn_only:
            lines.append(f"    warn only: {', '.join(sorted(probe.warn_only))}")
        if name != "health":
            lines.append(
                f"    kubelet probe: timeoutSeconds {probe.timeout_seconds:g}, "
                f"periodSeconds {probe.period_seconds:g}"
            )
        lifecycle = _LIFECYCLE[name]
        if name == "readyz" and settings.drain_delay is not None:
            lifecycle += f", and during the drain after SIGTERM ({seconds(settings.drain_delay)})"
        lines.append(f"    lifecycle: {lifecycle}")
    lines += ["", "checks:"]
    for check in checks:
        lines.append(f"  {check.name}")
        lines.append(f"    endpoints: {', '.join(runs_on[check.name]) or 'none'}")
        lines += [f"    {line}" for line in _check_lines(check, settings.cache_ttl)]
    lines += ["", "start-up warnings:"]
    lines += [f"  {escape_controls(warning)}" for warning in warnings] or ["  none"]
    return "\n".join(lines) + "\n"


def _check_lines(check: Check, default_ttl: float) -> list[str]:
    flags = [f"timeout {seconds(check.timeout)}", "critical" if check.critical else "not critical"]
    if check.external:
        flags.append("external")
    lines = ["; ".join(flags)]
    if check.tags:
        lines.append(f"tags: {', '.join(sorted(check.tags))}")
    component = [
        f"{field} {value!r}"
        for field in ("component_type", "component_id")
        if (value := getattr(check, field)) is not None
    ]
    if component:
        lines.append(", ".join(component))
    every = check.refresh_every
    if every is not None:
        # The defaults the engine applies (README, "Protecting dependencies").
        jitter = check.refresh_jitter if check.refresh_jitter is not None else every / 10
        max_age = check.max_age if check.max_age is not None else 2 * every + jitter + check.timeout
        lines.append(
            f"background refresh every {seconds(every)} plus up to {seconds(jitter)} of jitter, "
            f"first call {seconds(check.initial_delay)} after start-up, results older than "
            f"{seconds(max_age)} fail"
        )
    else:
        ttl = default_ttl if check.cache_ttl is None else check.cache_ttl
        source = " (the Health's)" if check.cache_ttl is None and ttl else ""
        cache = f"cache {_ttl(ttl)}{source}"
        if check.stale_while_revalidate:
            cache += f", then stale for {seconds(check.stale_while_revalidate)} while one call refreshes it"
        lines.append(cache)
    if check.failure_threshold > 1 or check.success_threshold > 1 or check.max_time_in_error:
        after = f"{check.failure_threshold} in a row"
        if check.max_time_in_error:
            after += f" and {seconds(check.max_time_in_error)} in error"
        lines.append(
            f"damping: fail after {after} (warn until then), pass again after "
            f"{check.success_threshold} in a row"
        )
    return lines


def _ttl(value: float) -> str:
    return seconds(value) if value else "off"
