"""Memory: the process's resident memory, against the container's limit when cgroup sets one.

Check("memory:utilization", memory.resident(warn_at=80, fail_at=95), component_type="system")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from healthkit import Result, Status

from ._levels import judge, require_levels

__all__ = ["resident"]

_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def resident(
    *, warn_at: float | None = 80.0, fail_at: float | None = 95.0, limit_bytes: int | None = None
) -> Callable[[], Result]:
    """A check of the process's resident memory (Linux ``/proc/self/status``).

    With a memory limit (``limit_bytes``, else the cgroup's), it reports ``utilization`` in
    percent against ``warn_at``/``fail_at``; with none, the resident size in MiB, always pass.
    """
    require_levels("memory.resident", warn_at, fail_at)

    def memory_resident() -> Result:
        rss = _resident_bytes()
        if rss is None:
            return Result(Status.FAIL, output="resident memory cannot be read on this system")
        limit = limit_bytes or _cgroup_limit()
        if not limit:
            return Result(Status.PASS, observed_value=round(rss / 2**20, 1), observed_unit="MiB")
        percent = 100.0 * rss / limit
        return judge(percent, "percent", warn_at=warn_at, fail_at=fail_at, what="resident memory is at")

    return memory_resident


def _resident_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cgroup_limit() -> int | None:
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max", or a huge number, means no limit
            return int(text)
    return None
