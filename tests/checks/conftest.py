from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import brokers
from tests.brokers import CeleryWorker, RabbitMQ
from tests.databases import Redis
from tests.servers import missing


def openssl_binary() -> str:
    """The openssl command: a failure in CI when it is missing, a skip elsewhere."""
    return shutil.which("openssl") or missing("openssl")


#: openssl arguments: a new RSA key, unencrypted; and a subject for 127.0.0.1.
NEW_KEY = ["-newkey", "rsa:2048", "-nodes"]
LOOPBACK = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]


def openssl(directory: Path, *steps: list[str]) -> None:
    """Run openssl once per step, in ``directory``."""
    command = openssl_binary()
    for step in steps:
        subprocess.run([command, *step], check=True, capture_output=True, cwd=directory)


@pytest.fixture
def one_day_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for one day: (cert, key) files."""
    openssl(
        tmp_path,
        ["req", "-x509", *NEW_KEY, "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", *LOOPBACK],
    )
    return tmp_path / "cert.pem", tmp_path / "key.pem"


CA_CONFIG = """
[ca]
default_ca = test_ca
[test_ca]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid, issuer
"""


@pytest.fixture
def expired_certificate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A certificate for 127.0.0.1 that expired on 2 January 2020, issued by a test CA:
    (cert, key, CA cert). Trusting the CA, a client rejects it for its dates alone."""
    (tmp_path / "ca.cnf").write_text(CA_CONFIG)
    (tmp_path / "index.txt").write_text("")
    (tmp_path / "serial").write_text("01\n")
    # The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) asks of a CA and its leaf,
    # so that the dates are the one thing wrong.
    issuer = ["-subj", "/CN=healthkit test CA", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    sign = ["ca", "-config", "ca.cnf", "-batch", "-notext", "-cert", "ca.pem", "-keyfile", "ca.key"]
    dates = ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"]
    openssl(
        tmp_path,
        ["req", "-x509", *NEW_KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", *issuer],
        ["req", *NEW_KEY, "-keyout", "key.pem", "-out", "leaf.csr", *LOOPBACK],
        [*sign, "-in", "leaf.csr", "-out", "cert.pem", *dates],
    )
    return tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitMQ]:
    """One real RabbitMQ for the session (it takes seconds to boot); a test that stops it starts
    it again."""
    with brokers.rabbitmq_server() as server:
        yield server


@pytest.fixture(scope="session")
def celery_worker(redis_server: Redis) -> Iterator[CeleryWorker]:
    """One `celery worker` process for the session, its broker the session's Redis."""
    with brokers.celery_worker(redis_server) as worker:
        yield worker
