"""Where a probe's time goes: cProfile's top entries for one contender, called in process.

    python -m bench.profile [ROWS]     # ROWS: names from bench.instructions.CONTENDERS; default
                                       # the rows of issue 13 with a target

Each contender is driven as in bench/instructions.py (its lifespan, a warm-up, then probes)
under cProfile; the entries with the most time of their own are printed, per probe (µs, with
cProfile's overhead in them: compare entries with each other, not with req/s).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys

from bench.instructions import CONTENDERS, probes

PROBES = 10000
TOP = 14
ROWS = [
    "healthkit, 1 check",
    "healthkit, 1 check, cached",
    "healthkit, 1 check, cached, statuses only",
    "healthkit, 10 checks",
]


def profile(name: str) -> str:
    for key in [key for key in os.environ if key.startswith("BENCH_")]:
        del os.environ[key]
    os.environ.update(CONTENDERS[name])
    import uvloop

    profiler = cProfile.Profile()
    uvloop.run(probes(PROBES, profiler))
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime")
    width = max(len(_where(key)) for key in list(stats.stats)[:200])  # type: ignore[attr-defined]
    lines = [f"{'calls/probe':>11}  {'own µs/probe':>12}  {'with callees':>12}  function"]
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    for key, (_, calls, own, cumulative, _) in entries[:TOP]:
        lines.append(
            f"{calls / PROBES:>11.2f}  {own / PROBES * 1e6:>12.2f}  {cumulative / PROBES * 1e6:>12.2f}  "
            f"{_where(key):<{width}}"
        )
    total = sum(own for _, _, own, _, _ in stats.stats.values())  # type: ignore[attr-defined]
    lines.append(f"total {total / PROBES * 1e6:.1f} µs per probe under the profiler")
    return "\n".join(line.rstrip() for line in lines)


def _where(key: tuple[str, int, str]) -> str:
    path, line, function = key
    for marker in ("site-packages/", "wt-perf/", "healthkit/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{function} ({path}:{line})" if line else function


def main() -> None:
    rows = sys.argv[1:] or ROWS
    for name in rows:
        print(f"{name}\n\n```\n{profile(name)}\n```\n")


if __name__ == "__main__":
    main()
