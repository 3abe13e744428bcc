"""healthkit's benchmarks, side by side with a bare Starlette route and the Python peers.

    make bench                      # or: bench/.venv/bin/python -m bench.run

Each contender runs under uvicorn (uvloop, httptools) in its own process; load comes from wrk in
another process, on loopback. Rounds are interleaved across contenders and the medians kept; every
figure is also given as a ratio to the floor (a bare Starlette route) measured in the same run,
since machines here are shared and noisy. Results go to stdout and bench/results.md.

BENCH_ROUNDS (default 3) and BENCH_SECONDS (default 3) set the rounds and each wrk run's length.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
#: Row -> the ratio to the floor at c=32 it must reach (issue: a probe that costs the app nothing).
TARGETS = {
    "healthkit, 1 check": 0.9,
    "healthkit, 1 check, cached, statuses only": 1.2,
    "healthkit, 1 check, cached": 1.0,
    "healthkit, 10 checks": 0.7,
    "healthkit, 1 check, served alone": 0.9,
    "healthkit, 1 check, cached, statuses only, served alone": 1.2,
    "healthkit, 1 check, cached, served alone": 1.0,
    "healthkit, 10 checks, served alone": 0.7,
}
PEERS = ["fastapi-health", "aaa-sentinel-health", "aio-tiny-healthcheck", "fastapi-healthchecks"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(contender: str, **settings: object) -> Iterator[tuple[str, int]]:
    """The contender under uvicorn on a free loopback port: (url, pid). A server that does not
    come up (its port taken meanwhile by another process) is tried again on another port."""
    env = {**os.environ, "BENCH_CONTENDER": contender}
    for key, value in settings.items():
        env[f"BENCH_{key.upper()}"] = str(int(value) if isinstance(value, bool) else value)
    for attempt in range(3):
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "bench.serve:make", "--factory", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--log-level", "error"]
        command += ["--no-access-log"]
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        if listening(process, port, time.monotonic() + 60):
            break
        stop(process)
        if attempt == 2:
            msg = f"{contender} did not start"
            raise RuntimeError(msg)
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        stop(process)


def listening(process: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
    """Whether the server accepts connections on ``port`` before ``deadline`` (monotonic), as
    long as it runs."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server, and kill it if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, connections: int, seconds: int = SECONDS, path: str = "/health") -> Load:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"{url}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert rps, out
    assert total, out
    return Load(
        float(rps.group(1)),
        latency("50"),
        latency("99"),
        int(total.group(1)),
        int(errors.group(1)) if errors else 0,
    )


def median_load(loads: Sequence[Load]) -> Load:
    return Load(
        statistics.median(load.rps for load in loads),
        statistics.median(load.p50_ms for load in loads),
        statistics.median(load.p99_ms for load in loads),
        sum(load.requests for load in loads),
        sum(load.errors for load in loads),
    )


def spread(values: Sequence[float]) -> float:
    """Half the range, as a share of the median: how noisy a cell is."""
    return (max(values) - min(values)) / 2 / statistics.median(values) if len(values) > 1 else 0.0


def throughput(contenders: dict[str, dict[str, object]]) -> dict[tuple[str, int], tuple[Load, float]]:
    """wrk at concurrency 1 and 32, rounds interleaved: (contender, c) -> (median, spread)."""
    runs: dict[tuple[str, int], list[Load]] = {}
    for _ in range(ROUNDS):
        for name, settings in contenders.items():
            contender = str(settings.get("contender", name))
            options = {k: v for k, v in settings.items() if k != "contender"}
            with serve(contender, **options) as (url, _pid):
                wrk(url, 32, 1)  # warm up
                for connections in (1, 32):
                    runs.setdefault((name, connections), []).append(wrk(url, connections))
    return {key: (median_load(loads), spread([load.rps for load in loads])) for key, loads in runs.items()}


async def one_request(url: str, timeout: float = 35.0) -> tuple[float, int]:
    async with httpx2.AsyncClient(timeout=timeout) as client:
        started = time.perf_counter()
        response = await client.get(f"{url}/health")
        return time.perf_counter() - started, response.status_code


async def burst(url: str, probes: int) -> tuple[int, list[int]]:
    """`probes` concurrent requests; how many times the checks ran, and the status codes."""
    limits = httpx2.Limits(max_connections=probes, max_keepalive_connections=0)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as client:
        before = int((await client.get(f"{url}/calls")).text)
        responses = await asyncio.gather(*(client.get(f"{url}/health") for _ in range(probes)))
        after = int((await client.get(f"{url}/calls")).text)
    return after - before, [response.status_code for response in responses]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fmt_load(load: Load, floor: Load, noise: float) -> list[str]:
    return [
        f"{load.rps:,.0f} ±{noise:.0%}",
        f"{load.rps / floor.rps:.2f}",
        f"{load.p50_ms:.2f}",
        f"{load.p99_ms:.2f}",
    ]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    peers = [peer for peer in PEERS if version(peer) != "not installed"]
    out: list[str] = []
    say = out.append

    say("## Benchmarks\n")
    say(
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; uvicorn {version('uvicorn')} (uvloop {version('uvloop')}, "
        f"httptools {version('httptools')}); wrk, one thread, on loopback; {ROUNDS} interleaved rounds "
        f"of {SECONDS} s, medians (± half the spread of req/s). healthkit {version('healthkit-asgi')}; "
        + ", ".join(f"{peer} {version(peer)}" for peer in peers)
        + ".\n"
    )

    # 1 and 2: throughput and latency with one and ten trivial checks, and from cache.
    contenders: dict[str, dict[str, object]] = {
        "floor: bare Starlette + orjson": {"contender": "floor"},
        "raw ASGI, constant bytes": {"contender": "raw"},
        "raw ASGI behind a Starlette route": {"contender": "mounted"},
        "healthkit, 1 check": {"contender": "healthkit", "checks": 1},
        "healthkit, 1 check, cached": {"contender": "healthkit", "checks": 1, "cached": True},
        "healthkit, 1 check, cached, statuses only": {
            "contender": "healthkit",
            "checks": 1,
            "cached": True,
            "details": "never",
        },
        "healthkit, 1 check, served alone": {"contender": "healthkit", "checks": 1, "alone": True},
        "healthkit, 1 check, cached, statuses only, served alone": {
            "contender": "healthkit",
            "checks": 1,
            "cached": True,
            "details": "never",
            "alone": True,
        },
        "healthkit, 1 check, cached, served alone": {
            "contender": "healthkit",
            "checks": 1,
            "cached": True,
            "alone": True,
        },
        "healthkit, 1 check, Prometheus metrics": {"contender": "healthkit", "checks": 1, "metrics": True},
        "healthkit, 10 checks": {"contender": "healthkit", "checks": 10},
        "healthkit, 10 checks, cached": {"contender": "healthkit", "checks": 10, "cached": True},
        "healthkit, 10 checks, served alone": {"contender": "healthkit", "checks": 10, "alone": True},
    }
    for peer in peers:
        contenders[f"{peer}, 1 check"] = {"contender": peer, "checks": 1}
        contenders[f"{peer}, 10 checks"] = {"contender": peer, "checks": 10}
    results = throughput(contenders)
    floor1, floor32 = (
        results["floor: bare Starlette + orjson", 1][0],
        results["floor: bare Starlette + orjson", 32][0],
    )
    rows = []
    for name in contenders:
        load1, noise1 = results[name, 1]
        load32, noise32 = results[name, 32]
        errors = load1.errors + load32.errors
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            verdict = f"≥ {target:.1f}: {'met' if load32.rps / floor32.rps >= target else 'missed'}"
        rows.append(
            [name, *fmt_load(load1, floor1, noise1), *fmt_load(load32, floor32, noise32), verdict]
            + ([f"{errors} non-2xx"] if errors else [""])
        )
    say("### Throughput and latency (rows 1 and 2)\n")
    say(
        table(
            [
                "contender",
                "req/s c=1",
                "×floor",
                "p50 ms",
                "p99 ms",
                "req/s c=32",
                "×floor",
                "p50 ms",
                "p99 ms",
                "target ×floor c=32",
                "",
            ],
            rows,
        )
        + "\n"
    )
    say(
        "Served alone: the Health itself is the ASGI app, with no Starlette app and route around "
        "it. Every other healthkit row is mounted at a Starlette route, as beside an application; "
        "the raw ASGI row behind a Starlette route is the most any app mounted so can reach.\n"
    )

    cost_curve(say)

    # 3 and 4: ten checks of 100 ms each; a check that never returns (healthkit deadline 0.8 s).
    rows = []
    for contender in ["healthkit", *peers]:
        with serve(contender, checks=10, delay=0.1) as (url, _pid):
            asyncio.run(one_request(url))
            slow = statistics.median(asyncio.run(one_request(url))[0] for _ in range(5))
        with serve(contender, checks=1, hang=True) as (url, _pid):
            try:
                hung, code = asyncio.run(one_request(url, timeout=35))
                hung_text = f"{hung:.3f} s, {code}"
            except httpx2.TimeoutException:
                hung_text = "no answer within 35 s"
        rows.append([contender, f"{slow * 1000:.0f} ms", hung_text])
    say("### Slow and hung checks (rows 3 and 4)\n")
    say(table(["contender", "10 checks × 100 ms", "one check never returns (deadline 0.8 s)"], rows) + "\n")

    # 5: one dependency check, 1000 concurrent probes.
    rows = []
    for contender in ["healthkit", *peers]:
        with serve(contender, checks=1, delay=0.2) as (url, _pid):
            ran, codes = asyncio.run(burst(url, 1000))
        rows.append([contender, str(ran), f"{codes.count(200)} of {len(codes)} answered 200"])
    say("### 1000 concurrent probes, one check of 200 ms (row 5)\n")
    say(table(["contender", "times the check ran", "answers"], rows) + "\n")

    # 6: resident memory after 1000 probes and after 100 000.
    rows = []
    for contender in ["floor", "healthkit"]:
        with serve(contender, checks=10) as (url, pid):
            asyncio.run(burst(url, 100))
            for _ in range(10):
                asyncio.run(burst(url, 100))
            early = rss_mb(pid)
            sent = 0
            while sent < 100_000:
                sent += wrk(url, 32, 5).requests
            late = rss_mb(pid)
        rows.append(
            [contender, f"{early:.1f} MB", f"{late:.1f} MB ({sent:,} probes)", f"{late - early:+.1f} MB"]
        )
    say("### Resident memory (row 6)\n")
    say(table(["contender (10 checks)", "after 1 000 probes", "after 100 000+", "growth"], rows) + "\n")

    catalog(say)

    text = "\n".join(out)
    print(text)
    (ROOT / "bench" / "results.md").write_text(text + "\n")


def cost_curve(say: Callable[[str], None]) -> None:
    """1, 10, 100 and 1000 trivial checks in one Health, served from the cache and called afresh:
    the time one probe takes (wrk at c=1) and, from it, the cost of each check per probe."""
    sizes = [1, 10, 100, 1000]
    contenders: dict[str, dict[str, object]] = {}
    for size in sizes:
        contenders[f"{size} cached"] = {"contender": "healthkit", "checks": size, "cached": True}
        contenders[f"{size} cached, statuses only"] = {
            "contender": "healthkit",
            "checks": size,
            "cached": True,
            "details": "never",
        }
        contenders[f"{size} uncached"] = {"contender": "healthkit", "checks": size}
    runs: dict[str, list[Load]] = {}
    for _ in range(ROUNDS):
        for name, settings in contenders.items():
            options = {k: v for k, v in settings.items() if k != "contender"}
            with serve("healthkit", **options) as (url, _pid):
                wrk(url, 1, 1)  # warm up
                runs.setdefault(name, []).append(wrk(url, 1))
    rows = []
    for kind in ("cached, statuses only", "cached", "uncached"):
        one = 1e6 / median_load(runs[f"1 {kind}"]).rps  # µs per probe with one check
        for size in sizes:
            load = median_load(runs[f"{size} {kind}"])
            probe_us = 1e6 / load.rps
            per_check = "" if size == 1 else f"{(probe_us - one) / (size - 1):.2f}"
            rows.append([kind, str(size), f"{probe_us:,.0f}", f"{load.p99_ms:.2f}", per_check])
    say("### The cost curve: checks per Health\n")
    say(
        "wrk at c=1; each probe's time is 1/req·s; the cost of a check is the time a probe gains "
        "per check beyond the first.\n"
    )
    say(table(["answered", "checks", "µs per probe", "p99 ms", "µs per check per probe"], rows) + "\n")


def catalog(say: Callable[[str], None]) -> None:
    """7: ready-made checks against a real PostgreSQL and Redis (tests/databases.py starts them)."""
    from tests.databases import postgres_server, redis_server

    kinds = [
        "postgres-asyncpg",
        "postgres-psycopg",
        "postgres-dsn",
        "sqlalchemy",
        "redis-client",
        "redis-url",
    ]
    with postgres_server() as postgres, redis_server() as redis:
        os.environ["BENCH_POSTGRES_DSN"], os.environ["BENCH_REDIS_URL"] = postgres.dsn, redis.url
        contenders: dict[str, dict[str, object]] = {"floor": {"contender": "floor"}}
        for kind in kinds:
            contenders[kind] = {"contender": "catalog", "catalog": kind}
            contenders[f"{kind}, cached 1 s"] = {"contender": "catalog", "catalog": kind, "cached": True}
        results = throughput(contenders)
        bursts = {}
        for kind in kinds:
            with serve("catalog", catalog=kind) as (url, _pid):
                asyncio.run(one_request(url))
                bursts[kind] = asyncio.run(burst(url, 1000))
    floor = results["floor", 32][0]
    rows = []
    for name in contenders:
        load, noise = results[name, 32]
        ran = f"{bursts[name][0]} ({bursts[name][1].count(200)} × 200)" if name in bursts else ""
        rows.append([name, *fmt_load(load, floor, noise), ran])
    say("### The catalog against real servers (row 7)\n")
    say(
        "One ready-made check per contender, on the application's own pool or client (`-dsn` and "
        "`-url`: one connection per call), against PostgreSQL and Redis on loopback; wrk at c=32. "
        "Last column: how many times the check ran for 1000 concurrent probes, uncached.\n"
    )
    say(
        table(["contender", "req/s c=32", "×floor", "p50 ms", "p99 ms", "check ran for 1000 probes"], rows)
        + "\n"
    )


if __name__ == "__main__":
    main()
