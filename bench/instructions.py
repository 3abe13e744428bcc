"""Instructions per probe, counted by valgrind's callgrind: the ASGI app called in process.

    python -m bench.instructions            # every contender, as in make bench
    python -m bench.instructions REV        # healthkit's rows at commit REV and now

Each contender (bench/serve.py, chosen by the same BENCH_* variables) is called straight, with
no server and no client: warmed up, then probed N times. Run once with 100 probes and once with
600 under `valgrind --tool=callgrind`, the difference of the two totals over 500 is what one
probe costs in instructions. Unlike req/s this does not move with other load on the machine, so
two versions can be told apart by a few per cent; it leaves out the server (uvicorn's parsing,
the socket) and the kernel, which every contender pays alike. With REV, healthkit at that commit
(checked out into a temporary git worktree) is imported instead of this tree's, under the same
harness, and both are counted.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.run import ROOT, table

CONTENDERS: dict[str, dict[str, str]] = {
    "floor: bare Starlette + orjson": {"BENCH_CONTENDER": "floor"},
    "raw ASGI, constant bytes": {"BENCH_CONTENDER": "raw"},
    "raw ASGI behind a Starlette route": {"BENCH_CONTENDER": "mounted"},
    "healthkit, 1 check": {"BENCH_CONTENDER": "healthkit"},
    "healthkit, 1 check, served alone": {"BENCH_CONTENDER": "healthkit", "BENCH_ALONE": "1"},
    "healthkit, 1 check, cached": {"BENCH_CONTENDER": "healthkit", "BENCH_CACHED": "1"},
    "healthkit, 1 check, cached, served alone": {
        "BENCH_CONTENDER": "healthkit",
        "BENCH_CACHED": "1",
        "BENCH_ALONE": "1",
    },
    "healthkit, 1 check, cached, statuses only": {
        "BENCH_CONTENDER": "healthkit",
        "BENCH_CACHED": "1",
        "BENCH_DETAILS": "never",
    },
    "healthkit, 1 check, cached, statuses only, served alone": {
        "BENCH_CONTENDER": "healthkit",
        "BENCH_CACHED": "1",
        "BENCH_DETAILS": "never",
        "BENCH_ALONE": "1",
    },
    "healthkit, 10 checks": {"BENCH_CONTENDER": "healthkit", "BENCH_CHECKS": "10"},
    "healthkit, 10 checks, cached": {
        "BENCH_CONTENDER": "healthkit",
        "BENCH_CHECKS": "10",
        "BENCH_CACHED": "1",
    },
}
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/health",
    "raw_path": b"/health",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"kube-probe/1.31"), (b"accept", b"*/*")],
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 50000),
}


async def probes(count: int, profiler: Any = None) -> None:
    """The contender's lifespan, 200 probes to warm up, then ``count`` probes (under
    ``profiler``, when given: enabled for those probes only)."""
    tree = os.environ.get("BENCH_TREE")
    if tree:
        sys.path.insert(0, tree)  # healthkit from there; the harness stays this tree's
    from bench import serve

    app = serve.make()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    lifespan = asyncio.ensure_future(app(scope, inbox.get, outbox.put))
    started = asyncio.ensure_future(outbox.get())
    await asyncio.wait({lifespan, started}, return_when=asyncio.FIRST_COMPLETED)
    if lifespan.done():  # an app without a lifespan (raw ASGI) returns at once
        started.cancel()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    for _ in range(200):
        await app(dict(SCOPE), receive, send)
    if profiler is not None:
        profiler.enable()
    for _ in range(count):
        await app(dict(SCOPE), receive, send)
    if profiler is not None:
        profiler.disable()
    if not lifespan.done():
        await inbox.put({"type": "lifespan.shutdown"})
    await lifespan


def total(env: dict[str, str], count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, "-m", "bench.instructions", "--probes", str(count)]
        subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True)
        match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        assert match, f"no totals in {out}"
        return int(match.group(1))


def per_probe(env: dict[str, str]) -> int:
    return (total(env, 600) - total(env, 100)) // 500


def section(say: Callable[[str], None]) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:  # each valgrind is one process on one core
        counts = dict(zip(CONTENDERS, pool.map(per_probe, CONTENDERS.values()), strict=True))
    floor = counts["floor: bare Starlette + orjson"]
    raw = counts["raw ASGI, constant bytes"]
    mounted = counts["raw ASGI behind a Starlette route"]
    rows = []
    for name, count in counts.items():
        base = raw if "alone" in name else mounted
        own = "" if name.startswith(("floor", "raw")) else f"{count - base:,}"
        rows.append([name, f"{count:,}", f"{floor / count:.2f}", own])
    say("### Instructions per probe (callgrind, in process)\n")
    say(
        "The ASGI app called straight, no server: valgrind's count of instructions for one probe "
        "(600 probes less 100, over 500). ×floor: the floor's count over the row's (higher is "
        "cheaper). healthkit's own: the row less the raw ASGI app behind the same Starlette route "
        "(what the engine adds to the Starlette app around it), or, served alone, less the raw "
        "ASGI app (what it adds to an app that sends constant bytes). No server and no kernel here: "
        "uvicorn and the socket cost every contender alike, so ratios of req/s are closer to 1.\n"
    )
    say(table(["contender", "instructions per probe", "×floor", "healthkit's own"], rows) + "\n")


def compare(rev: str) -> None:
    """healthkit's rows at ``rev`` and now, counted alike."""
    rows = {name: env for name, env in CONTENDERS.items() if name.startswith("healthkit")}
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "old")
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", old, rev], check=True)
        try:
            jobs = [{**env, "BENCH_TREE": old} for env in rows.values()] + list(rows.values())
            with ThreadPoolExecutor(max_workers=2) as pool:
                counts = list(pool.map(per_probe, jobs))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", old], check=False)
    before, after = counts[: len(rows)], counts[len(rows) :]
    lines = [
        [name, f"{a:,}", f"{b:,}", f"{b / a - 1:+.1%}"]
        for name, a, b in zip(rows, before, after, strict=True)
    ]
    print(table(["row", f"instructions at {rev}", "now", "change"], lines))


def main() -> None:
    if sys.argv[1:2] == ["--probes"]:  # the run under valgrind
        import uvloop  # as under uvicorn in the other rows

        uvloop.run(probes(int(sys.argv[2])))
        return
    if len(sys.argv) > 1:
        compare(sys.argv[1])
        return
    section(print)


if __name__ == "__main__":
    main()
