"""What a check's call gave, made into a CheckReport: redacted and cut once, when it comes in.

This is the exception policy, in one place: whatever a check raises is its failure, except
cancellation and Ctrl-C, which pass through.
"""

from __future__ import annotations

import inspect
import logging
from datetime import datetime

import anyio
import orjson

from ._check import Check, Result
from ._outcome import CheckReport, new_check_report
from ._redact import Redactor
from ._status import Status

__all__ = ["MAX_RESULT", "failed", "passes_through", "received"]

_log = logging.getLogger("healthkit")

#: Bytes a check's observed value, unit and affected endpoints may take as JSON.
MAX_RESULT = 8192


def passes_through(exc: BaseException) -> bool:
    """Exceptions a check must not turn into a fail: cancellation and Ctrl-C."""
    return isinstance(exc, KeyboardInterrupt | anyio.get_cancelled_exc_class())


def received(check: Check, value: object, wall: datetime, duration: float, redact: Redactor) -> CheckReport:
    """The report of a call that returned ``value``."""
    if value is None:
        return new_check_report(check, Status.PASS, wall, duration)
    if not isinstance(value, Result):
        return _bad_return(check, value, wall, duration)
    observed = value.observed_value
    try:
        # Once per call (not per probe): a result that cannot be serialized is this check's
        # failure, not a broken response. Catches odd types, ints past 64 bits, lone surrogates.
        size = len(orjson.dumps((observed, value.observed_unit, value.affected_endpoints)))
        orjson.dumps(value.output)
    except orjson.JSONEncodeError:
        for field in ("observed_value", "output", "observed_unit", "affected_endpoints"):
            try:
                orjson.dumps(getattr(value, field))
            except orjson.JSONEncodeError:
                break
        _log.warning("Check %r returned a %s that is not JSON", check.name, field)
        kind = type(getattr(value, field)).__name__
        output = f"{field} of type {kind} is not JSON-serializable"
        return CheckReport(check, Status.FAIL, wall, duration, output=output)
    if size > MAX_RESULT:
        _log.warning("Check %r returned a result of %d bytes as JSON", check.name, size)
        output = f"the result is too large for a health document: {size} bytes as JSON, at most {MAX_RESULT}"
        return CheckReport(check, Status.FAIL, wall, duration, output=output)
    # A copy (the check's objects may change later, after the result is cached), redacted; the
    # output masked before it is cut, so a cut never lands inside a secret.
    return CheckReport(
        check,
        value.status,
        wall,
        duration,
        output=None if value.output is None else redact.clipped(value.output),
        observed_value=None if observed is None else redact.value(orjson.loads(orjson.dumps(observed))),
        observed_unit=None if value.observed_unit is None else redact(value.observed_unit),
        affected_endpoints=tuple(redact(endpoint) for endpoint in value.affected_endpoints),
    )


def _bad_return(check: Check, value: object, wall: datetime, duration: float) -> CheckReport:
    kind = type(value).__name__
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never awaited on purpose; closing avoids a RuntimeWarning
        if check.is_async:
            advice = "await it inside the check"
            output = f"returned an un-awaited {kind}; {advice}"
        else:
            advice = "declare the check with 'async def'"
            output = f"returned {kind} from a plain function; {advice}"
        _log.warning("Check %r returned an awaitable: %s", check.name, advice)
    else:
        _log.warning("Check %r returned a %s; a check returns a Result or None", check.name, kind)
        output = f"returned {kind}, expected a Result or None"
    return CheckReport(check, Status.FAIL, wall, duration, output=output)


def failed(check: Check, exc: BaseException, wall: datetime, duration: float) -> CheckReport:
    """A call that raised: the output names the exception's type only (the state adds its error
    id); its message and traceback, which can hold DSNs and passwords, go to the server's log."""
    return CheckReport(check, Status.FAIL, wall, duration, output=type(exc).__name__)
