"""Real MariaDB, memcached and Exim servers for the catalog's tests.

Each runs from its Debian package on free loopback ports, in a temporary directory, with a
password (so the tests can show it never reaches an output). As root, each runs as its package's
system user. `stop()` and `start()` take a server down and bring it back on the same port, for the
tests of a dependency that goes away; `pause()` and `resume()` (SIGSTOP, SIGCONT) make one hang.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.checks.conftest import LOOPBACK, NEW_KEY, openssl
from tests.databases import PASSWORD, running, wait_until
from tests.servers import free_port, missing

USER = "app_login"


class Daemon:
    """A server process started in the foreground; `ports` must accept connections once it is up."""

    name = "server"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.as_user: str | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def ports(self) -> Sequence[int]:
        return [self.port]

    def spawn(self, command: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
        """Start `command` in a process group of its own (its children too: Exim forks one per
        session), as the server's user when there is one (its group too, and no others)."""
        options["start_new_session"] = True
        if self.as_user is None:
            return subprocess.Popen(command, **options)
        group = pwd.getpwnam(self.as_user).pw_gid
        return subprocess.Popen(command, user=self.as_user, group=group, extra_groups=[], **options)

    def start(self) -> None:
        log = (self.root / "stderr").open("ab")
        with log:
            self.process = self.spawn(self.command(), stdout=log, stderr=log)
        for port in self.ports():
            wait_until(port, True, self.name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(20)
        if self.process is not None:
            ended(self.process.pid)
        self.process = None
        for port in self.ports():
            wait_until(port, False, self.name)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def give_to(self, user: str) -> None:
        """As root: the server runs as `user`, which owns its directory."""
        if os.geteuid() != 0:
            return
        owner = pwd.getpwnam(user)
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        self.as_user = user


class MariaDB(Daemon):
    """mariadbd on a data directory made by mariadb-install-db, with a user that has a password.
    Runs as `mysql` under root (mariadbd's own --user)."""

    name = "MariaDB"

    def __init__(self, binary: str, install_db: str, root: Path) -> None:
        super().__init__(root)
        self.binary = binary
        self.socket = root / "mysqld.sock"
        self.dsn = f"mysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/app"
        (root / "init.sql").write_text(
            f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';\n"
            f"CREATE USER IF NOT EXISTS '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}';\n"
            f"GRANT ALL ON *.* TO '{USER}'@'127.0.0.1';\n"
            f"GRANT ALL ON *.* TO '{USER}'@'localhost';\n"
            "CREATE DATABASE IF NOT EXISTS app;\n"
        )
        self.root_user = ["--user=mysql"] if os.geteuid() == 0 else []
        if self.root_user:
            self.give_to("mysql")
            self.as_user = None  # mariadbd changes user itself
        done = subprocess.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={root / 'data'}",
                *self.root_user,
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"mariadb-install-db failed: {done.stdout}{done.stderr}")

    def command(self) -> Sequence[str]:
        return [
            self.binary,
            "--no-defaults",
            f"--datadir={self.root / 'data'}",
            *self.root_user,
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket}",
            f"--pid-file={self.root / 'mysqld.pid'}",
            f"--log-error={self.root / 'error.log'}",
            f"--init-file={self.root / 'init.sql'}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=16M",
            "--innodb-flush-log-at-trx-commit=0",
        ]


class Memcached(Daemon):
    """Three memcached servers: one open (`port`), one that asks for a login (`login_port`,
    memcached's ASCII authentication, -Y), one with TLS (`tls_port`, -Z, a self-signed certificate:
    `certificate`). Runs as `memcache` under root."""

    name = "memcached"

    def __init__(self, binary: str, root: Path) -> None:
        super().__init__(root)
        self.binary = binary
        self.login_port = free_port()
        self.tls_port = free_port()
        self.url = f"memcached://127.0.0.1:{self.port}"
        self.login_url = f"memcached://{USER}:{PASSWORD}@127.0.0.1:{self.login_port}"
        (root / "users").write_text(f"{USER}:{PASSWORD}\n")
        self.certificate = root / "cert.pem"
        openssl(root, ["req", "-x509", *NEW_KEY, "-keyout", "key.pem", "-out", "cert.pem", *LOOPBACK])
        self.others: list[subprocess.Popen[bytes]] = []
        self.give_to("memcache")

    def command(self, port: int | None = None) -> Sequence[str]:
        return [self.binary, "-l", "127.0.0.1", "-p", str(port or self.port), "-U", "0", "-m", "8"]

    def start(self) -> None:
        login = ["-Y", str(self.root / "users")]
        tls = ["-Z", "-o", f"ssl_chain_cert={self.certificate},ssl_key={self.root / 'key.pem'}"]
        self.others = [
            self.spawn([*self.command(self.login_port), *login]),
            self.spawn([*self.command(self.tls_port), *tls]),
        ]
        for port in (self.login_port, self.tls_port):
            wait_until(port, True, self.name)
        super().start()

    def stop(self) -> None:
        for process in self.others:  # all at once: memcached takes up to a second to stop
            process.terminate()
        super().stop()
        for process in self.others:
            process.wait(20)
        self.others = []


class Exim(Daemon):
    """Exim with a configuration of its own: no relay, no delivery, a login (AUTH PLAIN, over TLS
    only), STARTTLS on `port`, TLS from the start on `tls_port`, a self-signed certificate
    (`certificate`), and no TLS at all on `plain_port`. Runs as Debian-exim under root: exim
    started with -C drops its privileges."""

    name = "Exim"

    def __init__(self, binary: str, root: Path) -> None:
        super().__init__(root)
        self.binary = binary
        self.tls_port = free_port()
        self.plain_port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.login_url = f"smtp://{USER}:{PASSWORD}@127.0.0.1:{self.port}"
        self.tls_url = f"smtps://{USER}:{PASSWORD}@127.0.0.1:{self.tls_port}"
        self.certificate = root / "cert.pem"
        openssl(root, ["req", "-x509", *NEW_KEY, "-keyout", "key.pem", "-out", "cert.pem", *LOOPBACK])
        (root / "spool").mkdir()
        (root / "log").mkdir()
        user = "Debian-exim" if os.geteuid() == 0 and _has_user("Debian-exim") else _me()
        config = EXIM_CONFIG
        values = {"ROOT": str(root), "USER": user, "PORT": str(self.port)}
        values |= {"TLS_PORT": str(self.tls_port), "PLAIN_PORT": str(self.plain_port)}
        for name, value in {**values, "LOGIN": USER, "PASSWORD": PASSWORD}.items():
            config = config.replace(f"@{name}@", value)
        (root / "exim.conf").write_text(config)
        if user != _me():
            self.give_to(user)

    def command(self) -> Sequence[str]:
        return [self.binary, "-C", str(self.root / "exim.conf"), "-bdf", "-odqs"]

    def ports(self) -> Sequence[int]:
        return [self.port, self.tls_port, self.plain_port]

    def sessions(self) -> list[str]:
        """The commands of each SMTP session that sent no mail, as Exim logged them (C=...); the
        connections that sent no command (tests waiting for the port) are left out."""
        log = self.root / "log" / "mainlog"
        lines = log.read_text().splitlines() if log.exists() else []
        mine = [line for line in lines if "no MAIL in SMTP connection" in line and " C=" in line]
        return [line.split(" C=", 1)[1].split()[0] for line in mine]

    def received(self) -> int:
        """How many messages Exim took in (its "<=" log lines)."""
        log = self.root / "log" / "mainlog"
        return sum(" <= " in line for line in log.read_text().splitlines()) if log.exists() else 0


EXIM_CONFIG = """\
primary_hostname = mail.healthkit.test
spool_directory = @ROOT@/spool
log_file_path = @ROOT@/log/%slog
pid_file_path = @ROOT@/exim.pid
log_selector = +smtp_no_mail
keep_environment =
exim_user = @USER@
exim_group = @USER@
local_interfaces = 127.0.0.1
daemon_smtp_ports = @PORT@ : @TLS_PORT@ : @PLAIN_PORT@
tls_on_connect_ports = @TLS_PORT@
tls_advertise_hosts = ${if eq{$received_port}{@PLAIN_PORT@}{}{*}}
tls_certificate = @ROOT@/cert.pem
tls_privatekey = @ROOT@/key.pem
auth_advertise_hosts = ${if def:tls_in_cipher {*}{}}
host_lookup =
rfc1413_hosts =
acl_smtp_rcpt = refuse

begin acl
refuse:
  deny message = this server takes no mail

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{@LOGIN@}}{eq{$auth3}{@PASSWORD@}}}}
  server_set_id = $auth2
"""


def ended(group: int, within: float = 5) -> None:
    """Stop what is left of a process group (a session Exim forked, still logging), so that
    nothing writes to the server's directory once it is stopped."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + within
    while _running_in(group):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            return
        time.sleep(0.02)


def _running_in(group: int) -> bool:
    """Whether a process of `group` still runs (zombies, which the init here may never reap, do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (f"{d}/{name}" for d in ("/usr/sbin", "/usr/bin") if Path(f"{d}/{name}").exists()), None
        )
        if found:
            return found
    return None


@contextmanager
def mariadb_server() -> Iterator[MariaDB]:
    binary, install_db = _binary("mariadbd", "mysqld"), _binary("mariadb-install-db", "mysql_install_db")
    if binary is None or install_db is None or (os.geteuid() == 0 and not _has_user("mysql")):
        missing("MariaDB (mariadbd, mariadb-install-db)")
    with tempfile.TemporaryDirectory(prefix="healthkit-mariadb-", ignore_cleanup_errors=True) as root:
        yield from running(MariaDB(binary, install_db, Path(root)))


@contextmanager
def memcached_server() -> Iterator[Memcached]:
    binary = _binary("memcached")
    if binary is None or (os.geteuid() == 0 and not _has_user("memcache")):
        missing("memcached")
    with tempfile.TemporaryDirectory(prefix="healthkit-memcached-", ignore_cleanup_errors=True) as root:
        yield from running(Memcached(binary, Path(root)))


@contextmanager
def exim_server() -> Iterator[Exim]:
    binary = _binary("exim4", "exim")
    if binary is None:
        missing("Exim (exim4-daemon-light)")
    with tempfile.TemporaryDirectory(prefix="healthkit-exim-", ignore_cleanup_errors=True) as root:
        yield from running(Exim(binary, Path(root)))


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _me() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name
