"""A Health made again from another's settings: with other checks (healthkit.testing's
``forced``), or the same ones, to hear its start-up warnings (``healthkit describe``)."""

from __future__ import annotations

from collections.abc import Iterable

from ._check import Check
from ._health import Health
from ._settings import PROBE_ARGUMENTS

__all__ = ["rebuilt"]


def rebuilt(health: Health, checks: Iterable[Check] | None = None) -> Health:
    """A new Health with ``health``'s settings and ``checks`` (its own by default). Only the
    settings are carried over: not listeners (``on_change``), readiness set by ``set_ready``,
    nor anything learned by running (caches, damping)."""
    settings = health.settings
    probes = {PROBE_ARGUMENTS[name]: probe for name, probe in settings.probes.items()}
    return Health(
        settings.checks if checks is None else checks,
        deadline=settings.deadline,
        status_codes=settings.status_codes,
        service_id=settings.service_id,
        version=settings.version,
        release_id=settings.release_id,
        description=settings.description,
        notes=settings.notes,
        links=settings.links,
        cache_control=settings.cache_control,
        max_threads=settings.max_threads,
        cache_ttl=settings.cache_ttl,
        drain_delay=settings.drain_delay,
        redact=settings.redact,
        expose_errors=settings.expose_errors,
        authorize=settings.authorize,
        **probes,
    )
