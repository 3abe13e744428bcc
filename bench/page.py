"""The status page with 1000 checks: how long it takes to render and how large it is.

    python -m bench.page          # from the repository root; BENCH_PAGE_CHECKS (default 1000)

1000 checks, one in ten failing and one in ten warning, each with an observed value and unit,
outputs on the failing and warning ones, and a history: 200 of the checks have flapped 30 times
(so they hold the 20 changes kept), the rest have one change. The rendering is timed alone
(median of 30, after a first render has made what is made once: each check's registration and
every change that has ended), next to the health+json document of the same report for scale.
"""

from __future__ import annotations

import gzip
import os
import statistics
import time
from collections.abc import Callable

import anyio

from healthkit import Check, Health, Result, Status

CHECKS = int(os.environ.get("BENCH_PAGE_CHECKS", "1000"))
ROUNDS = 30


def check_for(number: int, flapping: list[bool]) -> Callable[[], object]:
    async def check() -> Result:
        if number % 10 == 0 or (number < CHECKS // 5 and flapping[0]):
            return Result(
                Status.FAIL, output=f"GET http://10.0.{number // 256}.{number % 256}/health returned 503"
            )
        if number % 10 == 1:
            return Result(
                Status.WARN, output=f"{number} jobs waiting", observed_value=number, observed_unit="jobs"
            )
        return Result(Status.PASS, observed_value=round(number / 7, 3), observed_unit="ms")

    return check


def timed(render: Callable[[], bytes]) -> tuple[float, int]:
    """(median milliseconds, bytes)."""
    body = render()
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, len(body)


async def main() -> None:
    flapping = [False]
    health = Health(
        [Check(f"service-{n:04d}:responseTime", check_for(n, flapping)) for n in range(CHECKS)],
        service_id="bench",
        version="1",
    )
    for _ in range(30):
        flapping[0] = not flapping[0]
        await health.run()
    report = await health.run()
    page = health._endpoints["health"]._page  # the bench measures the internals
    assert page is not None
    rows = [
        ("page, details", lambda: page.render(report, details=True)),
        ("page, statuses only", lambda: page.render(report, details=False)),
        ("?history, details", lambda: page.render_history(report, details=True)),
        ("health+json document", lambda: report.to_json()),
    ]
    print(f"{CHECKS} checks; median of {ROUNDS} renders\n")
    print("| answer | render | size | gzipped |")
    print("|---|---|---|---|")
    for label, render in rows:
        ms, size = timed(render)
        zipped = len(gzip.compress(render()))
        print(f"| {label} | {ms:.1f} ms | {size / 1024:.0f} KiB | {zipped / 1024:.0f} KiB |")


if __name__ == "__main__":
    anyio.run(main)
