"""Real PostgreSQL and Redis servers for the catalog's tests.

Each runs from its Debian package on a free loopback port, in a temporary directory, with a
password (so the tests can show it never reaches an output). `stop()` and `start()` take a server
down and bring it back on the same port, for the tests of a dependency that goes away.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from tests.servers import free_port, missing

PASSWORD = "pw-s3cret-Zq81"


class Daemon(Protocol):
    """A server a test session starts once and the tests may stop and start again."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def running(self) -> bool: ...


Server = TypeVar("Server", bound=Daemon)


def accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(port: int, accepts: bool, what: str, within: float = 20) -> None:
    """Wait until 127.0.0.1:`port` accepts connections (or, with `accepts` false, refuses them)."""
    deadline = time.monotonic() + within
    while accepting(port) != accepts:
        if time.monotonic() > deadline:
            state = "did not start serving" if accepts else "still accepts connections"
            pytest.fail(f"{what} {state} on 127.0.0.1:{port}")
        time.sleep(0.05)


class Postgres:
    """A PostgreSQL cluster made by initdb; as root, it runs as the `postgres` system user."""

    user = "healthkit"

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.dsn = f"postgresql://{self.user}:{PASSWORD}@127.0.0.1:{self.port}/postgres"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        password_file = root / "password"
        password_file.write_text(PASSWORD)
        if self.as_user:
            os.chown(password_file, pwd.getpwnam("postgres").pw_uid, -1)
        self.run(
            [
                "initdb",
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--no-sync",
            ]
        )

    def run(self, command: Sequence[str]) -> None:
        tool = str(self.bindir / command[0])
        done = subprocess.run(
            [*self.as_user, tool, *command[1:]], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(["pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start"])
        wait_until(self.port, True, "PostgreSQL")

    def stop(self) -> None:
        """A fast shutdown: the server ends its sessions and stops listening."""
        self.run(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"])
        wait_until(self.port, False, "PostgreSQL")

    def running(self) -> bool:
        tool = str(self.bindir / "pg_ctl")
        done = subprocess.run(
            [*self.as_user, tool, "-D", str(self.data), "status"], capture_output=True, check=False
        )
        return done.returncode == 0


class Redis:
    """A redis-server with a password, no persistence, in its own directory."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)]
        command += ["--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--logfile", "log"]
        self.process = subprocess.Popen(command)
        wait_until(self.port, True, "Redis")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
        wait_until(self.port, False, "Redis")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def postgres_bindir() -> Path | None:
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(found) / "initdb").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None or (os.geteuid() == 0 and not _has_user("postgres")):
        missing("PostgreSQL (initdb, pg_ctl)")
    with tempfile.TemporaryDirectory(prefix="healthkit-postgres-", ignore_cleanup_errors=True) as root:
        yield from running(Postgres(bindir, Path(root)))


@contextmanager
def redis_server() -> Iterator[Redis]:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        missing("Redis (redis-server)")
    with tempfile.TemporaryDirectory(prefix="healthkit-redis-", ignore_cleanup_errors=True) as root:
        yield from running(Redis(binary, Path(root)))


def running(server: Server) -> Iterator[Server]:
    """Start the server, yield it, and stop it if a test left it running."""
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.stop()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
