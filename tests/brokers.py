"""A real RabbitMQ and a real Celery worker for the catalog's tests.

RabbitMQ runs from Debian's package (its upstream scripts under /usr/lib/rabbitmq/bin, not the
/usr/sbin wrappers, which switch to the rabbitmq user and log to /var/log) on free loopback ports,
with everything of its own in a temporary directory: its Mnesia database, logs, configuration,
Erlang cookie (HOME), and an epmd started for it alone on a port of its own, so it cannot clash
with another Erlang node on the machine. Booting takes several seconds, so the tests start it once
per session; `stop()` and `start()` stop and start the broker inside the running node
(rabbitmqctl stop_app/start_app), which takes about a second: clients see the listener close and
then open again.

The Celery worker is a `celery worker` process with Redis (tests/databases.py) as its broker.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.databases import PASSWORD, Redis, accepting, wait_until
from tests.servers import free_port, missing

RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


class RabbitMQ:
    """A RabbitMQ node with one user (with a password) and no plugins."""

    user = "healthkit"

    def __init__(self, scripts: Path, epmd: str, root: Path) -> None:
        self.scripts = scripts
        self.epmd = epmd
        self.root = root
        self.port = free_port()
        self.url = f"amqp://{self.user}:{PASSWORD}@127.0.0.1:{self.port}/"
        self.node = f"healthkit-{self.port}@localhost"
        self.log = root / "log" / "node.log"
        self.node_process: subprocess.Popen[bytes] | None = None
        self.epmd_process: subprocess.Popen[bytes] | None = None
        epmd_port = free_port()
        for folder in ("home", "mnesia", "log"):
            (root / folder).mkdir()
        (root / "enabled_plugins").write_text("[].\n")
        (root / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
        config = [
            f"listeners.tcp.default = 127.0.0.1:{self.port}",
            f"default_user = {self.user}",
            f"default_pass = {PASSWORD}",
            "loopback_users = none",
        ]
        (root / "rabbitmq.conf").write_text("\n".join(config) + "\n")
        self.env = {
            **os.environ,
            "HOME": str(root / "home"),  # the Erlang cookie, shared by the node and rabbitmqctl
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(epmd_port),
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_LOGS": str(self.log),
            "RABBITMQ_PID_FILE": str(root / "pid"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            # By default NODE_PORT + 20000, which can be above 65535 or taken: a free port instead.
            "RABBITMQ_DIST_PORT": str(free_port()),
        }
        self.epmd_port = epmd_port

    def boot(self) -> None:
        """Start epmd and the node, and wait until the broker accepts connections."""
        command = [self.epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"]
        self.epmd_process = subprocess.Popen(command, env=self.env, stderr=subprocess.DEVNULL)
        wait_until(self.epmd_port, True, "epmd")
        output = (self.root / "log" / "console").open("wb")
        with output:
            self.node_process = subprocess.Popen(
                [str(self.scripts / "rabbitmq-server")],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        deadline = time.monotonic() + 90
        while not self._accepting():
            if self.node_process.poll() is not None or time.monotonic() > deadline:
                logs = [self.log, self.root / "log" / "console"]
                said = "".join(log.read_text(errors="replace")[-1500:] for log in logs if log.exists())
                pytest.fail(f"RabbitMQ did not start serving on 127.0.0.1:{self.port}: {said}")
            time.sleep(0.1)

    def _accepting(self) -> bool:
        return accepting(self.port)

    def ctl(self, *arguments: str) -> None:
        command = [str(self.scripts / "rabbitmqctl"), "-n", self.node, *arguments]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False, timeout=60)
        if done.returncode != 0:
            pytest.fail(f"rabbitmqctl {' '.join(arguments)} failed: {done.stdout}{done.stderr}")

    def stop(self) -> None:
        """Stop the broker (the node keeps running): its connections are closed, its port refuses."""
        self.ctl("stop_app")
        wait_until(self.port, False, "RabbitMQ")

    def start(self) -> None:
        self.ctl("start_app")
        wait_until(self.port, True, "RabbitMQ")

    def running(self) -> bool:
        return self._accepting()

    def shutdown(self) -> None:
        """Stop the node and its epmd."""
        for process in (self.node_process, self.epmd_process):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        self.node_process = self.epmd_process = None


@contextmanager
def rabbitmq_server() -> Iterator[RabbitMQ]:
    epmd = shutil.which("epmd")
    if not (RABBITMQ_SCRIPTS / "rabbitmq-server").exists() or epmd is None:
        missing("RabbitMQ (rabbitmq-server)")
    with tempfile.TemporaryDirectory(prefix="healthkit-rabbitmq-", ignore_cleanup_errors=True) as root:
        server = RabbitMQ(RABBITMQ_SCRIPTS, epmd, Path(root))
        try:
            server.boot()
            yield server
        finally:
            server.shutdown()


WORKER_APP = """
import os

from celery import Celery

app = Celery("healthkit_worker", broker=os.environ["HEALTHKIT_TEST_BROKER"])
app.conf.broker_connection_retry_on_startup = True
"""


class CeleryWorker:
    """A `celery worker` process (solo pool: no child processes), its broker the given Redis."""

    def __init__(self, redis: Redis, root: Path) -> None:
        self.root = root
        self.broker = redis.url.rsplit("/", 1)[0] + "/1"  # a database of its own
        self.hostname = "worker1@healthkit"
        self.process: subprocess.Popen[bytes] | None = None
        (root / "healthkit_worker.py").write_text(WORKER_APP)

    def start(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "healthkit_worker", "worker", "--pool=solo"]
        command += ["--hostname", self.hostname, "--without-heartbeat", "--without-mingle"]
        command += ["--without-gossip", "--loglevel=warning", f"--logfile={self.root / 'worker.log'}"]
        env = {**os.environ, "HEALTHKIT_TEST_BROKER": self.broker, "PYTHONPATH": str(self.root)}
        self.process = subprocess.Popen(command, env=env, cwd=self.root, stdout=subprocess.DEVNULL)
        self.wait_until_answering()

    def wait_until_answering(self, within: float = 30) -> None:
        """Ping until the worker answers: it connects to the broker a moment after it starts."""
        from celery import Celery  # type: ignore[import-untyped]  # imported by the tests that use it

        app = Celery("healthkit_tests", broker=self.broker, set_as_current=False)
        deadline = time.monotonic() + within
        try:
            while not app.control.ping(destination=[self.hostname], timeout=0.2):
                if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.root / "worker.log"
                    said = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                    pytest.fail(f"the Celery worker did not answer a ping: {said}")
        finally:
            app.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # a warm shutdown
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@contextmanager
def celery_worker(redis: Redis) -> Iterator[CeleryWorker]:
    with tempfile.TemporaryDirectory(prefix="healthkit-celery-", ignore_cleanup_errors=True) as root:
        worker = CeleryWorker(redis, Path(root))
        try:
            worker.start()
            yield worker
        finally:
            worker.stop()
