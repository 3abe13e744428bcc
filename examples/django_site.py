"""Django under an ASGI server, with healthkit in front: ``application = health.wrap(...)``.

    uvicorn django_site:application --app-dir examples
    gunicorn django_site:application --chdir examples -k uvicorn_worker.UvicornWorker --graceful-timeout 45

A one-file Django project. In a real one, the last lines go in ``asgi.py``. Django's ASGI
handler refuses the lifespan, so it cannot run healthkit's; ``health.wrap`` answers healthkit's
paths (/health, /livez, /readyz, /startupz) and the server's lifespan itself and hands every
other request to Django. That is what lets background checks run and readiness drain on SIGTERM.

Settings from the environment: HEALTHKIT_DRAIN_DELAY (seconds, default 15),
HEALTHKIT_DJANGO_DB (an SQLite file; default: in memory).
"""

from __future__ import annotations

import os
import time

import anyio
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from healthkit import Check, Health, Result, Status

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    # Django refuses to start without one; a real project reads its own from the environment.
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret"),
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("HEALTHKIT_DJANGO_DB", ":memory:"),
        }
    },
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("orders (Django)\n", content_type="text/plain")


async def slow(request: HttpRequest) -> HttpResponse:
    """A slow request, to watch the drain let it finish."""
    seconds = min(float(request.GET.get("seconds", "1")), 30.0)
    await anyio.sleep(seconds)
    return HttpResponse(f"done after {seconds}s\n", content_type="text/plain")


urlpatterns = [path("", home), path("slow", slow)]


def database() -> Result:
    """Readiness: Django's database answers (a plain function: healthkit runs it in a thread)."""
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # the thread is healthkit's, not a request's: Django would not close it
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    return Result(Status.PASS, observed_value=elapsed, observed_unit="ms")


async def queue() -> Result:
    """Refreshed in the background, which needs healthkit's lifespan: wrap gives it one."""
    return Result(Status.PASS, observed_value=0, observed_unit="jobs")


health = Health(
    [
        Check("django:database", database, component_type="datastore"),
        Check("queue", queue, refresh_every=5),
    ],
    drain_delay=float(os.environ.get("HEALTHKIT_DRAIN_DELAY", "15")),
)

# asgi.py
from django.core.asgi import get_asgi_application  # noqa: E402  (after settings.configure)

application = health.wrap(get_asgi_application())
