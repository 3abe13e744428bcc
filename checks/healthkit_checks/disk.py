"""Disk: how full the file system holding a path is.

Check("disk:utilization", disk.usage("/var/lib/app", warn_at=80, fail_at=95), component_type="system")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from healthkit import Result, Status

from ._levels import judge, require_levels

__all__ = ["usage"]


def usage(
    path: str | os.PathLike[str] = "/", *, warn_at: float | None = 80.0, fail_at: float | None = 90.0
) -> Callable[[], Result]:
    """A check of the share of the file system's space in use at ``path`` (``utilization`` in
    percent). A plain function: it runs in a worker thread, as healthkit runs plain checks."""
    require_levels("disk.usage", warn_at, fail_at)
    where = os.fspath(path)

    def disk_usage() -> Result:
        try:
            total, used, _free = shutil.disk_usage(where)
        except FileNotFoundError:
            return Result(Status.FAIL, output=f"{where} does not exist")
        percent = 100.0 * used / total if total else 0.0
        return judge(percent, "percent", warn_at=warn_at, fail_at=fail_at, what=f"{where} is used at")

    return disk_usage
