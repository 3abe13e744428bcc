"""Event loops whose clock jumps ahead instead of sleeping: exact, instant tests of timed behaviour.

`virtual_backend(name)` gives an `anyio_backend` value: trio with its MockClock set to autojump,
or asyncio with `VirtualTimeLoop`. Whenever every task is waiting on a timer, the clock jumps
to the next timer. Checks in such tests must not wait on worker threads (the clock would jump
past their timeouts): use async checks. The loop is healthkit.testing's, which users get too.
"""

from __future__ import annotations

from typing import Any

from healthkit.testing import virtual_time


def virtual_backend(name: str) -> tuple[str, dict[str, Any]]:
    return virtual_time("trio" if name == "trio" else "asyncio")
