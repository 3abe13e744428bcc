"""The app's share: how much of its business route's throughput probes take, at a realistic rate
and an abusive one.

    python -m bench.share          # BENCH_SHARE_ROUNDS (default 3), BENCH_SHARE_SECONDS (4)

One process serves a demo-like application (bench/serve.py's ``app``: GET /work, and healthkit's
probes with two readiness checks that wait 1 ms each, uncached). wrk loads /work at c=32 while
bench/pace.py, in its own process, sends readiness probes, each on a new connection (the kubelet's
way): none, 3 sources x 2/s (three kubelets' or load balancers' worth), or 4 sources x 100/s (a
misconfigured monitor). In every round each probed run has an unprobed run just before and
after it, and is compared with their mean; the median of those drops over the rounds is the
figure, and their range shows the noise. Separately, on the idle server, the CPU time one probe costs
(/proc, less the idle loop's) gives the drop to expect: rate x cost.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench.run import ROOT, Load, serve, table, wrk

ROUNDS = int(os.environ.get("BENCH_SHARE_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SHARE_SECONDS", "4"))
#: name -> (sources, probes a second from each), None: no probes
RATES: dict[str, tuple[int, float] | None] = {
    "no probes": None,
    "realistic: 3 sources × 2/s": (3, 2.0),
    "abusive: 4 sources × 100/s": (4, 100.0),
}
PATH = "/readyz"


def pacer(url: str, sources: int, rate: float, seconds: float, path: str = PATH) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bench.pace", url, path, str(sources), str(rate), str(seconds)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe_cost(url: str, pid: int, path: str = PATH) -> tuple[float, int]:
    """CPU µs the server spends per probe (idle otherwise), and how many probes that took."""
    seconds = 4.0
    idle = cpu_seconds(pid)
    time.sleep(seconds)
    idle = cpu_seconds(pid) - idle
    before = cpu_seconds(pid)
    out, _ = pacer(url, 4, 100.0, seconds, path).communicate()
    spent = cpu_seconds(pid) - before
    answered = int(orjson.loads(out)["answered"])
    return max(spent - idle, 0.0) / max(answered, 1) * 1e6, answered


Run = tuple[Load, float, dict[str, object]]  # wrk's figures, server CPU seconds, the pacer's


def measure() -> tuple[dict[str, list[Run]], float, int]:
    runs: dict[str, list[Run]] = {name: [] for name in RATES}
    with serve("app") as (url, pid):
        wrk(url, 32, 2, path="/work")  # warm up
        cost, sampled = probe_cost(url, pid)
        for _ in range(ROUNDS):
            # An unprobed run before each probed one: every probed run has one on each side.
            order = [name for name, probes in RATES.items() if probes is None]
            for name, probes in RATES.items():
                if probes is not None:
                    order += [name, "no probes"]
            for name in order:
                probes = RATES[name]
                process = None
                if probes is not None:
                    process = pacer(url, *probes, SECONDS + 1.5)
                    time.sleep(0.7)  # the pacer's start-up; it goes on past wrk's end
                cpu = cpu_seconds(pid)
                load = wrk(url, 32, SECONDS, path="/work")
                cpu = cpu_seconds(pid) - cpu
                outcome: dict[str, object] = {}
                if process is not None:
                    out, _ = process.communicate()
                    outcome = orjson.loads(out)
                runs[name].append((load, cpu, outcome))
    return runs, cost, sampled


def section(say: Callable[[str], None]) -> None:
    runs, cost, sampled = measure()
    with serve("floor") as (url, pid):
        floor_cost, _ = probe_cost(url, pid, "/health")
    unprobed = runs["no probes"]
    per_round = len(unprobed) // ROUNDS  # unprobed runs in each round
    rows = []
    for index, (name, probes) in enumerate(RATES.items()):
        loads = [load for load, _, _ in runs[name]]
        rps = [load.rps for load in loads]
        cpu_us = [cpu / load.requests * 1e6 for load, cpu, _ in runs[name]]
        p99 = statistics.median(load.p99_ms for load in loads)
        drop = spread = answered = probe_ms = expected = cpu_change = "-"
        if probes is not None:
            # The unprobed runs on either side of this one.
            sides = [
                (unprobed[r * per_round + index - 1], unprobed[r * per_round + index]) for r in range(ROUNDS)
            ]
            drops = [
                1 - run[0].rps / statistics.mean((a[0].rps, b[0].rps))
                for run, (a, b) in zip(runs[name], sides, strict=True)
            ]
            changes = [
                us / statistics.mean((a[1] / a[0].requests * 1e6, b[1] / b[0].requests * 1e6)) - 1
                for us, (a, b) in zip(cpu_us, sides, strict=True)
            ]
            drop = f"{statistics.median(drops):+.1%}"
            spread = f"{min(drops):+.1%} to {max(drops):+.1%}"
            cpu_change = f"{statistics.median(changes):+.1%} ({min(changes):+.1%} to {max(changes):+.1%})"
            expected = f"{probes[0] * probes[1] * cost / 1e6:.2%}"
            outcomes = [outcome for _, _, outcome in runs[name]]
            sent = sum(int(str(o["sent"])) for o in outcomes)
            got = sum(int(str(o["answered"])) for o in outcomes)
            answered = f"{got:,} of {sent:,}"
            p50s = [float(str(o["p50_ms"])) for o in outcomes]
            p99s = [float(str(o["p99_ms"])) for o in outcomes]
            probe_ms = f"{statistics.median(p50s):.1f} / {statistics.median(p99s):.1f}"
        rows.append(
            [
                name,
                f"{statistics.median(rps):,.0f}",
                f"{p99:.2f}",
                drop,
                spread,
                f"{statistics.median(cpu_us):.0f}",
                cpu_change,
                expected,
                answered,
                probe_ms,
            ]
        )
    say("### The app's share: its business route under load while probes arrive\n")
    say(
        f"GET /work at c=32 (wrk, {SECONDS} s a run) beside readiness probes on new connections "
        f"(two checks of 1 ms, uncached), {ROUNDS} rounds; each probed run against the mean of the "
        "unprobed runs just before and after it. CPU µs per /work request: the server's CPU time "
        "(/proc) over the requests wrk completed, a figure that other load on the machine moves "
        f"less. On the idle server a probe costs {cost:.0f} µs of CPU (new connection included; "
        f"from {sampled} probes): the drop to expect is the probe rate times that. A request to "
        f"the bare Starlette route on a new connection costs {floor_cost:.0f} µs the same way: "
        "much of a probe's cost is its connection.\n"
    )
    say(
        table(
            [
                "probes",
                "/work req/s",
                "p99 ms",
                "drop (median)",
                "drop, each round",
                "CPU µs per /work",
                "its change",
                "expected",
                "probes answered",
                "probe p50 / p99 ms",
            ],
            rows,
        )
        + "\n"
    )


def main() -> None:
    section(print)


if __name__ == "__main__":
    main()
