"""healthkit: health-check endpoints for Starlette and FastAPI (application/health+json).

The names below are imported when first used, so that ``python -m healthkit probe`` (which needs
only the standard library) starts without loading starlette, anyio and orjson. ``__version__`` is the
installed distribution's version (``healthkit-asgi``), read from its metadata when first asked for.
"""

# typing.TYPE_CHECKING without importing typing (mypy reads any name TYPE_CHECKING as True)
TYPE_CHECKING = False

if TYPE_CHECKING:
    from ._auth import bearer_token
    from ._check import Check, Result
    from ._events import StatusChange
    from ._health import Health
    from ._observe import CallEnded, Observer, ProbeAnswered
    from ._outcome import CheckReport
    from ._probe import Probe
    from ._report import Report
    from ._status import Status

    __version__: str

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

#: public name -> the module that defines it
_MODULES = {
    "CallEnded": "_observe",
    "Check": "_check",
    "CheckReport": "_outcome",
    "Health": "_health",
    "Observer": "_observe",
    "Probe": "_probe",
    "ProbeAnswered": "_observe",
    "Report": "_report",
    "Result": "_check",
    "Status": "_status",
    "StatusChange": "_events",
    "bearer_token": "_auth",
}

if not TYPE_CHECKING:  # type checkers read the imports above; a __getattr__ would hide typos

    def __getattr__(name: str) -> object:
        if name == "__version__":
            from importlib import metadata

            try:
                version = metadata.version("healthkit-asgi")
            except metadata.PackageNotFoundError:
                msg = "healthkit has no __version__: the healthkit-asgi distribution is not installed"
                raise AttributeError(msg) from None
            globals()[name] = version
            return version
        module = _MODULES.get(name)
        if module is None:
            msg = f"module 'healthkit' has no attribute {name!r}"
            raise AttributeError(msg)
        import importlib

        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # once: later lookups do not come here
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__, "__version__"})
