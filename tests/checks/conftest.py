from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import missing


def openssl_binary() -> str:
    """The openssl command: a failure in CI when it is missing, a skip elsewhere."""
    return shutil.which("openssl") or missing("openssl")


@pytest.fixture
def one_day_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for one day: (cert, key) files."""
    openssl = openssl_binary()
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    command = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    command += ["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


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
[any]
commonName = supplied
"""


@pytest.fixture
def expired_certificate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A certificate for 127.0.0.1 that expired on 2 January 2020, issued by a test CA:
    (cert, key, CA cert). Trusting the CA, a client rejects it for its dates alone."""
    openssl = openssl_binary()
    (tmp_path / "ca.cnf").write_text(CA_CONFIG)
    (tmp_path / "index.txt").write_text("")
    (tmp_path / "serial").write_text("01\n")
    ca = [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "3650",
    ]
    leaf = ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "leaf.csr"]
    sign = ["ca", "-config", "ca.cnf", "-batch", "-notext", "-cert", "ca.pem", "-keyfile", "ca.key"]
    steps = [
        [*ca, "-subj", "/CN=healthkit test CA"],
        [*leaf, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        [
            *sign,
            "-in",
            "leaf.csr",
            "-out",
            "cert.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ],
    ]
    for step in steps:
        subprocess.run([openssl, *step], check=True, capture_output=True, cwd=tmp_path)
    return tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
