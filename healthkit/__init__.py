"""healthkit: health-check endpoints for Starlette and FastAPI (application/health+json)."""

from ._check import Check, Result
from ._events import StatusChange
from ._health import Health
from ._status import Status

__all__ = ["Check", "Health", "Result", "Status", "StatusChange"]
