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

PROBES = 5000
TOP = 14
#: The rows of issue 13 with a target, and what limits each (the profile below it shows it).
LIMITS = {
    "healthkit, 1 check": (
        "target ≥ 0.9 × floor. Every probe makes a call: CheckState.start and Loop.launch make an "
        "asyncio task for the check and a timer at its timeout (a call is detached from the probe "
        "so that a client going away does not cut it, and it is shared with the probes that come "
        "meanwhile), the probe waits on a future (Loop.wait), and when the call lands "
        "(landed, _land) its result becomes a CheckReport (_call.received, new_check_report) "
        "which the document serializes (Document.render). That is the price of a "
        "call with its own timeout that may outlive the probe; a cache_ttl or a background "
        "refresh takes it off the probe (the cached rows)."
    ),
    "healthkit, 1 check, served alone": (
        "target ≥ 0.9 × floor. The row above without the Starlette app around it: the same "
        "call per probe (a task, a timer, a future, a CheckReport, its part of the document), "
        "which is most of the probe's cost either way."
    ),
    "healthkit, 10 checks": (
        "target ≥ 0.7 × floor (also served alone, where only the Starlette entries go). The same "
        "per call, ten times: ten tasks, ten timers, ten reports, ten parts serialized; the cost "
        "curve above gives it per check, uncached and cached."
    ),
    "healthkit, 1 check, cached": (
        "target ≥ 1.0 × floor. Mounted at a Starlette route, a probe first goes through "
        "the Starlette app: ServerErrorMiddleware, ExceptionMiddleware (which wraps send), the "
        "router and Route.matches. The raw ASGI app behind the same route, sending constant "
        "bytes, costs about 0.64 of the floor's instructions: that is the ceiling for any app "
        "mounted so, and healthkit's own path must fit in the rest. No check is gathered: the "
        "report kept from an earlier run is served again with its ages grown (Health._run, "
        "later, CheckReports.later, new_report). What remains is the endpoint (reading "
        "the headers), the document joined from pieces made once per call with each age "
        "serialized (Document.render), and the header block with the body's length "
        "(Responder.health). Served alone (the Health as the ASGI app) the row has no "
        "Starlette around it."
    ),
    "healthkit, 1 check, cached, served alone": (
        "target ≥ 1.0 × floor. The row above without the Starlette app: the kept report served "
        "again with its ages grown, the document joined from its pieces with each age "
        "serialized, the header block with the body's length, and reading the request. About "
        "1.3 × floor in instructions: in req/s it lands within the run's spread of the target."
    ),
    "healthkit, 1 check, cached, statuses only": (
        "target ≥ 1.2 × floor. No run and no Report: the answer kept from an earlier probe "
        "(status code, headers, body) is sent again while it holds (Kept.now checks the count "
        "of changes, the loop and the time). What remains of healthkit is reading "
        "the request's headers (_read_headers, for an X-Request-ID to echo and the Accept "
        "header) and sending (Responder.send). Mounted, the Starlette app around it costs more "
        "than all of healthkit's part: nothing mounted at a Starlette route can reach the "
        "target. Served alone the row has no Starlette around it."
    ),
}
ROWS = list(LIMITS)


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
    print("### What limits the rows that miss their targets\n")
    print(
        "cProfile's entries with the most time of their own, per probe, the app called in process "
        "(python -m bench.profile); under the profiler every Python call costs more, so compare "
        "entries with each other. The instruction counts above say how far each row is from the "
        "floor without the noise of a shared machine.\n"
    )
    for name in rows:
        print(f"#### {name}\n\n{LIMITS.get(name, '')}\n\n```\n{profile(name)}\n```\n")


if __name__ == "__main__":
    main()
