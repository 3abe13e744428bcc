"""healthkit: health-check endpoints for Starlette and FastAPI (application/health+json)."""

from ._auth import bearer_token
from ._check import Check, Result
from ._events import StatusChange
from ._health import Health
from ._observe import CallEnded, Observer, ProbeAnswered
from ._outcome import CheckReport
from ._probe import Probe
from ._report import Report
from ._status import Status

__all__ = [
    "CallEnded",
    "Check",
    "CheckReport",
    "Health",
    "Observer",
    "Probe",
    "ProbeAnswered",
    "Report",
    "Result",
    "Status",
    "StatusChange",
    "bearer_token",
]
