"""A process that always exits, and worker threads that stay bounded: hung and stubborn checks.

Servers are real processes (tests/apps/hung.py under uvicorn or hypercorn) on free loopback ports,
killed at teardown whatever happens. The bound on an exit is 10 s after the signal: the lifespan
waits up to 5 s for the calls it cancels, and the rest is margin for a loaded machine.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from healthkit import Check, Health
from tests.conftest import probe
from tests.servers import Server, free_port

APP = Path(__file__).resolve().parent / "apps" / "hung.py"
BOUND = 10.0  # seconds from the signal to the exit
GRACE = 5.0  # seconds the lifespan waits for the calls it cancels
DEADLINE = 0.3  # the app's Health(deadline=)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        kill(server)


def kill(server: Server) -> None:
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait(10)


def start(kind: str, state: Path, **settings: str) -> Server:
    """tests/apps/hung.py under `kind` (uvicorn, hypercorn-asyncio, hypercorn-trio)."""
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Server([sys.executable, str(APP), kind, str(port)], port, {"HUNG_STATE": str(state), **settings})


def get(server: Server, path: str) -> httpx2.Response:
    with httpx2.Client(base_url=server.url, timeout=10) as client:
        return client.get(path)


def until_state(server: Server, key: str, count: int, within: float = 10) -> None:
    """Wait until the app's GET /state counts `count` for `key` (entered, caught)."""
    give_up = time.monotonic() + within
    while (seen := get(server, "/state").json()[key]) != count:
        if time.monotonic() > give_up:
            pytest.fail(f"/state counts {seen} {key}, not {count}, after {within}s")
        time.sleep(0.02)


def seconds_to_exit(server: Server, signalled: float) -> float:
    """How long after the signal the process ended; infinite if it still runs at the bound."""
    try:
        server.process.wait(max(signalled + BOUND - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        return math.inf
    return time.monotonic() - signalled


SIGNALLED = [
    pytest.param("uvicorn", signal.SIGTERM, id="uvicorn-SIGTERM"),
    pytest.param("uvicorn", signal.SIGINT, id="uvicorn-SIGINT"),
    pytest.param("hypercorn-asyncio", signal.SIGTERM, id="hypercorn-asyncio-SIGTERM"),
    pytest.param("hypercorn-asyncio", signal.SIGINT, id="hypercorn-asyncio-SIGINT"),
    pytest.param("hypercorn-trio", signal.SIGTERM, id="hypercorn-trio-SIGTERM"),
    pytest.param("hypercorn-trio", signal.SIGINT, id="hypercorn-trio-SIGINT"),
]


@pytest.mark.parametrize(("kind", "signum"), SIGNALLED)
def test_a_hung_plain_function_check_never_keeps_the_process_alive_after_a_signal(
    kind: str, signum: signal.Signals, servers: list[Server], tmp_path: Path
) -> None:
    server = start(kind, tmp_path, HUNG_BLOCKED="1")  # its dependency never answers
    servers.append(server)
    asked = time.monotonic()
    answer = get(server, "/health")
    answered = time.monotonic() - asked
    until_state(server, "entered", 1)  # the check's thread started
    server.signal(signum)
    exited = seconds_to_exit(server, time.monotonic())

    assert 503 == answer.status_code
    assert answered < DEADLINE + 0.7
    assert exited < BOUND, f"{kind} still running {BOUND}s after {signum.name}"


RUNS = 3  # per server and moment: a race may show only now and then


@pytest.mark.parametrize("release", ["lifespan", "loop-close"])
@pytest.mark.parametrize(
    ("kind", "signum"),
    [
        pytest.param("uvicorn", signal.SIGINT, id="uvicorn-SIGINT"),
        pytest.param("hypercorn-asyncio", signal.SIGTERM, id="hypercorn-asyncio-SIGTERM"),
    ],
)
def test_a_worker_thread_whose_check_ends_during_shutdown_never_blocks_the_exit(
    kind: str, signum: signal.Signals, release: str, servers: list[Server], tmp_path: Path
) -> None:
    # Eight checks in worker threads wait on one dependency that comes back while the server
    # shuts down: in the app's lifespan shutdown step, or as the event loop closes, after its
    # last callback ran (a thread that then waits for the loop to take its result waits forever).
    # uvicorn's SIGTERM is left out: uvicorn raises it again once the lifespan has ended, and
    # that ends the process whatever its threads do.
    for run in range(1, RUNS + 1):
        server = start(kind, tmp_path / f"run{run}", HUNG_BLOCKED="8", HUNG_RELEASE=release)
        servers.append(server)
        answer = get(server, "/health")
        until_state(server, "entered", 8)
        server.signal(signum)
        exited = seconds_to_exit(server, time.monotonic())

        assert 503 == answer.status_code
        assert exited < BOUND, f"run {run} of {RUNS}: {kind} still running {BOUND}s after {signum.name}"


def no_call_left(answer: tuple[int, dict[str, Any]]) -> bool:
    """Every check passed, or found no worker thread: no call from before runs any more."""
    checks = answer[1]["checks"].values()
    return all(item["status"] == "pass" or "no worker thread free" in item["output"] for (item,) in checks)


async def test_max_threads_bounds_the_threads_of_hung_checks() -> None:
    release = threading.Event()
    lock = threading.Lock()
    inside = 0  # threads in a check now
    most = 0

    def hung() -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        release.wait(30)
        with lock:
            inside -= 1

    # Twelve hung checks, eight worker threads (max_threads=8, the default).
    health = Health([Check(f"hung{i:02}", hung, timeout=0.25) for i in range(12)], deadline=DEADLINE)
    await anyio.sleep(0.05)  # trio under pytest runs as a guest: its own I/O thread starts at a first wait
    baseline = threading.active_count()
    answers: list[tuple[int, float, dict[str, Any]]] = []
    threads: list[int] = []
    try:
        for _ in range(3):
            asked = time.perf_counter()
            code, body = await probe(health)
            answers.append((code, time.perf_counter() - asked, body))
            threads.append(threading.active_count())
    finally:
        release.set()  # the dependency is back: every thread ends and reports back
        with anyio.fail_after(5):
            while not no_call_left(await probe(health)):
                await anyio.sleep(0.01)
    no_thread = [
        sorted(name for name, (item,) in body["checks"].items() if "no worker thread free" in item["output"])
        for _, _, body in answers
    ]

    assert [503, 503, 503] == [code for code, _, _ in answers]
    assert max(elapsed for _, elapsed, _ in answers) < DEADLINE + 0.5
    assert max(threads) <= baseline + 8, f"{baseline} threads before, then {threads}"
    assert 8 == most
    assert [4, 4, 4] == [len(names) for names in no_thread]


@dataclass
class Shutdown:
    """What a server with a stubborn check did: seconds from its signal (infinite: not by BOUND)."""

    answer: int
    lifespan_ended: float
    exited: float
    log: list[str]  # what healthkit logged at WARNING and up after the signal


STUBBORN = {
    "hypercorn-trio-SIGTERM": ("hypercorn-trio", signal.SIGTERM),
    "hypercorn-trio-SIGINT": ("hypercorn-trio", signal.SIGINT),
    "hypercorn-asyncio-SIGTERM": ("hypercorn-asyncio", signal.SIGTERM),
    "uvicorn-SIGTERM": ("uvicorn", signal.SIGTERM),
    "uvicorn-SIGINT": ("uvicorn", signal.SIGINT),
}


@pytest.fixture(scope="module")
def stubborn_shutdowns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Shutdown]]:
    """Each server in STUBBORN with an async check that catches its cancellation and keeps going
    until it is let go, probed once, then signalled; all at once, since each waits out the grace.
    The check is let go as soon as the lifespan has ended (or at the bound): the process can end
    only after it does."""
    root = tmp_path_factory.mktemp("stubborn")
    servers: dict[str, Server] = {}
    try:
        for name, (kind, _) in STUBBORN.items():
            servers[name] = start(kind, root / name, HUNG_STUBBORN="1")
        answers = {name: get(server, "/health").status_code for name, server in servers.items()}
        for server in servers.values():
            until_state(server, "caught", 1)  # the check caught its cancellation and goes on
        logged = {name: (root / name / "healthkit.log").stat().st_size for name in servers}
        signalled: dict[str, float] = {}
        for name, server in servers.items():
            server.signal(STUBBORN[name][1])
            signalled[name] = time.monotonic()
        ended = dict.fromkeys(servers, math.inf)
        exited = dict.fromkeys(servers, math.inf)
        give_up = max(signalled.values()) + BOUND
        while time.monotonic() < give_up and math.inf in exited.values():
            for name, server in servers.items():
                marker = root / name / "lifespan-ended"
                if math.isinf(ended[name]) and marker.exists():
                    ended[name] = float(marker.read_text()) - signalled[name]
                    (root / name / "let-go").touch()
                if math.isinf(exited[name]) and server.process.poll() is not None:
                    exited[name] = time.monotonic() - signalled[name]
            time.sleep(0.02)
        logs = {}
        for name in servers:
            with (root / name / "healthkit.log").open() as file:
                file.seek(logged[name])
                logs[name] = file.read().splitlines()
        yield {name: Shutdown(answers[name], ended[name], exited[name], logs[name]) for name in servers}
    finally:
        for server in servers.values():
            kill(server)


@pytest.mark.parametrize("run", list(STUBBORN))
def test_a_check_ignoring_its_cancellation_never_stops_the_lifespan_from_ending(
    run: str, stubborn_shutdowns: dict[str, Shutdown]
) -> None:
    shutdown = stubborn_shutdowns[run]

    assert 503 == shutdown.answer
    assert shutdown.lifespan_ended < GRACE + 3, (
        f"the lifespan ended {shutdown.lifespan_ended}s after the signal"
    )
    assert shutdown.exited < BOUND, f"exited {shutdown.exited}s after the signal"


@pytest.mark.parametrize("run", list(STUBBORN))
def test_the_lifespan_names_the_checks_it_leaves_running(
    run: str, stubborn_shutdowns: dict[str, Shutdown]
) -> None:
    log = stubborn_shutdowns[run].log
    named = [line for line in log if line.startswith("WARNING ") and "stubborn" in line]

    assert [] != named, f"healthkit logged after the signal: {log}"
