"""More than one process: how often a check runs under `uvicorn --workers N`.

    python -m bench.workers        # BENCH_PROBE_RATE (default 60 a second), BENCH_WORKERS_SECONDS (6)

Each worker process has its own Health: its own cache, its own shared calls and its own
background refresh; healthkit keeps no cache across processes. The check here tells a UDP sink
in this process of each call, so calls are counted across all workers. Probes (new connections,
as a kubelet's) arrive at BENCH_PROBE_RATE a second from 10 sources, spread over the workers by
the kernel; for N = 1, 2 and 4 workers this counts the check's calls a second, and the most
calls within 50 ms (how many reach the dependency at once), with no cache, with a cache TTL,
and with a background refresh (without jitter, with the default, and with half the interval).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson

from bench.run import ROOT, free_port, listening, stop, table

RATE = float(os.environ.get("BENCH_PROBE_RATE", "60"))
SECONDS = float(os.environ.get("BENCH_WORKERS_SECONDS", "6"))
SOURCES = 10
BURST = 0.05  # calls this close together reach the dependency at once
WORKERS = (1, 2, 4)
TTL = 2.0
#: name -> the check's settings (bench/serve.py's counted contender)
CONFIGS: dict[str, dict[str, str]] = {
    "no cache": {},
    f"cache_ttl={TTL:g}": {"BENCH_CACHE_TTL": f"{TTL}"},
    f"refresh_every={TTL:g}, no jitter": {"BENCH_REFRESH": f"{TTL}", "BENCH_JITTER": "0"},
    f"refresh_every={TTL:g} (jitter {TTL / 10:g}, the default)": {"BENCH_REFRESH": f"{TTL}"},
    f"refresh_every={TTL:g}, refresh_jitter={TTL / 2:g}": {
        "BENCH_REFRESH": f"{TTL}",
        "BENCH_JITTER": f"{TTL / 2}",
    },
}


class Sink:
    """Counts datagrams (one per call of the check, from any worker), with their arrival times."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.times: list[float] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.sock.recv(16)
            except TimeoutError:
                continue
            self.times.append(time.monotonic())

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


@contextmanager
def workers(count: int, sink: int, env: dict[str, str]) -> Iterator[str]:
    """The counted app under `uvicorn --workers count`; its URL once every worker answers."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.serve:make", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(count), "--loop", "uvloop", "--http", "httptools"]
    command += ["--log-level", "error", "--no-access-log"]
    environ = {**os.environ, **env, "BENCH_CONTENDER": "counted", "BENCH_SINK": str(sink)}
    process = subprocess.Popen(command, cwd=ROOT, env=environ)
    try:
        if not listening(process, port, time.monotonic() + 30):
            msg = f"{count} workers did not start"
            raise RuntimeError(msg)
        time.sleep(1.0 + 0.5 * count)  # the other workers' start-up
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def count(config: dict[str, str], processes: int) -> tuple[float, int, int, int]:
    """(calls a second, most calls within BURST seconds, probes answered, probes sent)."""
    sink = Sink()
    try:
        with workers(processes, sink.port, config) as url:
            command = [sys.executable, "-m", "bench.pace", url, "/readyz", str(SOURCES)]
            command += [str(RATE / SOURCES), str(SECONDS)]
            pacing = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)  # the pacer's start-up, then a whole window of its probes
            began = time.monotonic()
            time.sleep(SECONDS - 1.0)
            ended = time.monotonic()
            out, _ = pacing.communicate()
    finally:
        sink.close()
    calls = [at for at in sink.times if began <= at < ended]
    most = max((sum(1 for t in calls if start <= t < start + BURST) for start in calls), default=0)
    result = orjson.loads(out)
    return len(calls) / (ended - began), most, int(result["answered"]), int(result["sent"])


def section(say: Callable[[str], None]) -> None:
    rows = []
    for name, config in CONFIGS.items():
        for processes in WORKERS:
            per_second, most, answered, sent = count(config, processes)
            rows.append([name, str(processes), f"{per_second:.1f}", str(most), f"{answered:,} of {sent:,}"])
    say("### More than one process: how often the check runs (uvicorn --workers N)\n")
    say(
        f"Probes of /readyz at {RATE:g} a second (10 sources, new connections) for {SECONDS:g} s; "
        "one check, counted across the worker processes by a UDP sink. Each worker has its own "
        "cache and its own background refresh.\n"
    )
    say(
        table(
            ["the check", "workers", "calls a second", "most calls within 50 ms", "probes answered"],
            rows,
        )
        + "\n"
    )


def main() -> None:
    section(print)


if __name__ == "__main__":
    main()
