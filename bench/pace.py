"""Probes at a steady rate, as kubelets and load balancers send them: each a new connection.

    python -m bench.pace URL PATH SOURCES RATE SECONDS

SOURCES senders, each RATE probes a second (their phases spread evenly over one interval), for
SECONDS; every probe opens its own TCP connection and closes it (the kubelet's way). Prints one
JSON line: probes sent, answered, their status codes, and latency percentiles in ms. Run as its
own process, so that its work is not the measured server's nor wrk's bookkeeping.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from urllib.parse import urlsplit

import orjson


async def one(host: str, port: int, request: bytes, codes: dict[int, int], latencies: list[float]) -> None:
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        data = await reader.read()  # to the end: the request said Connection: close
        writer.close()
        code = int(data.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        code = 0
    codes[code] = codes.get(code, 0) + 1
    latencies.append(time.perf_counter() - started)


async def pace(url: str, path: str, sources: int, rate: float, seconds: float) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.31\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    codes: dict[int, int] = {}
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    interval = 1 / rate
    start = loop.time() + 0.05
    end = start + seconds
    # Every source's probes, in time order: source i is i/sources of an interval late.
    times = sorted(
        start + n * interval + i * interval / sources
        for i in range(sources)
        for n in range(int(seconds * rate) + 1)
        if start + n * interval + i * interval / sources < end
    )
    for at in times:
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(host, port, request, codes, latencies))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    ordered = sorted(latencies) or [0.0]
    return {
        "sent": len(times),
        "answered": sum(count for code, count in codes.items() if code),
        "codes": {str(code): count for code, count in sorted(codes.items())},
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def main() -> None:
    url, path, sources, rate, seconds = sys.argv[1:6]
    result = asyncio.run(pace(url, path, int(sources), float(rate), float(seconds)))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
