"""Which framework serves a Health, and how each one hands healthkit its lifespan.

A Health learns its host when it is installed (``health.install(app)``: Starlette, FastAPI), when
it wraps an app (``health.wrap(app)``: Django, any ASGI app), or else from the first request that
a route of ``health.routes()`` answers (the scope's ``app``, which Starlette and FastAPI set).
Messages about a lifespan that is not running name the fix for that host.

No framework is imported here: an app's framework is read from the modules of its classes.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Host", "framework_in", "framework_of", "lifespan_fix"]

Framework = Literal["Starlette", "FastAPI", "Django", "ASGI"]
#: how the host became known: declared by install() or wrap(), or seen in a request's scope
How = Literal["installed", "wrapped", "seen"]

_FIXES: dict[Framework, str] = {
    "Starlette": "run the app with lifespan=health.lifespan, or call health.install(app)",
    "FastAPI": (
        "call health.install(app), which adds the routes and runs healthkit's lifespan inside the "
        "app's own (or FastAPI(lifespan=health.lifespan))"
    ),
    "Django": (
        "Django hands no lifespan to the app: in asgi.py, serve "
        "application = health.wrap(get_asgi_application())"
    ),
    "ASGI": "hand the lifespan to healthkit: serve health.wrap(app), which runs the app's own lifespan too",
}
_SERVER = "with the lifespan on (not uvicorn --lifespan off)"


@dataclass(frozen=True, slots=True)
class Host:
    """The framework a Health is served by, and how that became known."""

    framework: Framework
    how: How


def framework_of(app: object) -> Framework:
    """The framework of an ASGI app (FastAPI before Starlette: a FastAPI app is a Starlette app)."""
    modules = [cls.__module__ for cls in type(app).__mro__]
    for name, framework in (("fastapi", "FastAPI"), ("starlette", "Starlette"), ("django", "Django")):
        if any(module == name or module.startswith(f"{name}.") for module in modules):
            return framework  # type: ignore[return-value]
    return "ASGI"


def framework_in(scope: Mapping[str, Any]) -> Framework:
    """The framework serving a request: its scope's ``app`` (set by Starlette and FastAPI). Without
    one, a process that has loaded Django's ASGI handler is taken to be serving Django."""
    app = scope.get("app")
    if app is not None:
        return framework_of(app)
    return "Django" if "django.core.handlers.asgi" in sys.modules else "ASGI"


def lifespan_fix(host: Host | None) -> str:
    """What to do so that healthkit's lifespan runs, for the framework in use."""
    if host is None:  # no request seen, nothing installed: health.run() from code
        return (
            "enter health.running() first (an app's lifespan does: health.install(app) for Starlette "
            "and FastAPI, health.wrap(app) for Django and other ASGI apps)"
        )
    if host.how == "installed":
        return (
            "the server has not run the lifespan of the app given to health.install(): serve that app "
            f"itself (the lifespan of an app mounted in another does not run), {_SERVER}"
        )
    if host.how == "wrapped":
        return f"the server has not run the lifespan of the app health.wrap() returned: serve it {_SERVER}"
    return _FIXES[host.framework]
