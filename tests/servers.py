"""Real processes on loopback for tests: servers under test and the clients in front of them."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import anyio
import anyio.to_thread
import pytest


def missing(what: str) -> NoReturn:
    """A program the tests need is not installed: a failure in CI (`CI=true`), a skip elsewhere."""
    message = f"{what} is not installed (.ci/run installs it with apt-get)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """A process started for a test; stopped (killed if need be) by `stop`."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.command = list(command)
        self.process = subprocess.Popen(self.command, env={**os.environ, **(env or {})})

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def exited(self, within: float) -> float:
        """Wait for the process to end; returns when it did (time.monotonic())."""
        await anyio.to_thread.run_sync(self.process.wait, within)
        return time.monotonic()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait(10)


class Server(Process):
    """A process that serves on 127.0.0.1:`port`; waits until the port accepts connections."""

    def __init__(self, command: Sequence[str], port: int, env: Mapping[str, str] | None = None) -> None:
        super().__init__(command, env)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"{command[0]} did not start serving on {self.url}")
                time.sleep(0.05)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(filename: str, env: Mapping[str, str]) -> ModuleType:
    """A fresh copy of examples/`filename`, imported with `env` set (examples read it at import)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        spec = importlib.util.spec_from_file_location(
            f"example_{Path(filename).stem}_under_test", EXAMPLES / filename
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def serve_demo(env: Mapping[str, str]) -> Server:
    """examples/demo.py under a real uvicorn on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "demo:app", "--app-dir", str(EXAMPLES)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return Server(command, port, {"HEALTHKIT_DEMO_PORT": str(port), **env})
