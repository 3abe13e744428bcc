"""Event loop: how late a scheduled wake-up runs. For liveness: a blocked loop answers nothing.

Check("eventLoop:lag", event_loop.lag(), component_type="system", tags={"live"})
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from healthkit import Result

from ._levels import judge, require_levels

__all__ = ["lag"]

_NAP = 0.005  # seconds asked for; the lag is how much longer it took


def lag(*, warn_at: float | None = 50.0, fail_at: float | None = 250.0) -> Callable[[], Awaitable[Result]]:
    """A check that sleeps 5 ms and reports how late it woke up (``lag`` in ms)."""
    require_levels("event_loop.lag", warn_at, fail_at)

    async def event_loop_lag() -> Result:
        asked = anyio.current_time()
        await anyio.sleep(_NAP)
        late_ms = max(anyio.current_time() - asked - _NAP, 0.0) * 1000
        return judge(late_ms, "ms", warn_at=warn_at, fail_at=fail_at, what="the event loop was late by")

    return event_loop_lag
