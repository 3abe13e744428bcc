"""The README's recipe, for uvicorn in tests/test_haproxy.py: one check and ``health.routes()``,
no route at ``/``. ``uvicorn tests.readme_app:app``."""

from __future__ import annotations

from starlette.applications import Starlette

from healthkit import Check, Health


async def database() -> None:
    return None


health = Health([Check("database", database)])
app = Starlette(routes=health.routes(), lifespan=health.lifespan)
