"""The command line, as a subprocess: ``probe`` against real servers in every state, ``run`` and
``describe`` against tests/apps/cli_app.py, the Dockerfile's HEALTHCHECK and the console script."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.apps.cli_app import TOKEN
from tests.conftest import assert_valid_document
from tests.servers import EXAMPLES, Server, free_port

ROOT = Path(__file__).resolve().parent.parent
#: The probe's one line is all Docker keeps of it (the first 4096 bytes of its output).
SHORT = 300


def healthkit(
    *args: str, env: dict[str, str] | None = None, python: tuple[str, ...] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m healthkit ARGS`` from the repository's root, as a user would run it."""
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'checks'}", **(env or {})}
    command = [sys.executable, *python, "-m", "healthkit", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=environment, check=False
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """tests/apps/cli_app.py under a real uvicorn on a free loopback port: its URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.apps.cli_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    process = Server(command, port, {"PYTHONPATH": str(ROOT)})
    try:
        yield process.url
    finally:
        process.stop()


# --- probe: the states of a health endpoint ---


def test_probe_exits_0_on_pass_and_says_so_in_one_line(server: str) -> None:
    done = healthkit("probe", f"{server}/pass")

    assert 0 == done.returncode
    assert "" == done.stdout
    assert f"healthy: {server}/pass answered 200 OK; status pass\n" == done.stderr


def test_probe_exits_0_on_warn_and_names_the_checks_that_warn(server: str) -> None:
    done = healthkit("probe", f"{server}/warn")

    assert 0 == done.returncode
    assert f"healthy: {server}/warn answered 200 OK; status warn; warning: replica\n" == done.stderr


def test_probe_exits_1_on_fail_and_names_the_failing_and_warning_checks(server: str) -> None:
    done = healthkit("probe", f"{server}/fail")

    assert 1 == done.returncode
    assert (
        f"unhealthy: {server}/fail answered 503 Service Unavailable; "
        "status fail; failing: db; warning: replica\n" == done.stderr
    )


def test_probe_never_repeats_check_outputs_from_the_body(server: str) -> None:
    done = healthkit("probe", f"{server}/fail-details")

    assert 1 == done.returncode
    assert (
        f"unhealthy: {server}/fail-details answered 503 Service Unavailable; "
        "status fail; failing: db, search\n" == done.stderr
    )
    assert "401" not in done.stderr
    assert TOKEN[:8] not in done.stderr


def test_probe_says_why_readiness_fails_when_the_body_tells(server: str) -> None:
    done = healthkit("probe", f"{server}/maintenance/readyz")

    assert 1 == done.returncode
    assert "; status fail: not ready: maintenance\n" in done.stderr


def test_probe_gives_up_on_a_hung_server_at_its_timeout(server: str) -> None:
    started = time.monotonic()
    done = healthkit("probe", "--timeout", "0.5", f"{server}/hung")
    took = time.monotonic() - started

    assert 1 == done.returncode
    assert f"unhealthy: {server}/hung timed out: no answer within 0.5s\n" == done.stderr
    assert 0.5 <= took < 5


def test_probe_exits_1_when_nothing_listens() -> None:
    url = f"http://127.0.0.1:{free_port()}/readyz"

    done = healthkit("probe", url)

    assert 1 == done.returncode
    assert f"unhealthy: {url}: connection refused (is the server listening?)\n" == done.stderr


def test_a_page_that_is_not_health_json_is_judged_by_its_status_alone(server: str) -> None:
    done = healthkit("probe", f"{server}/plain")

    assert 0 == done.returncode
    assert (
        f"healthy: {server}/plain answered 200 OK; the body is not application/health+json (text/plain)\n"
        == done.stderr
    )


def test_a_500_with_an_html_page_is_unhealthy_and_the_page_is_not_shown(server: str) -> None:
    done = healthkit("probe", f"{server}/broken")

    assert 1 == done.returncode
    assert (
        f"unhealthy: {server}/broken answered 500 Internal Server Error; the body is not "
        "application/health+json (text/html)\n" == done.stderr
    )


def test_a_large_body_is_not_read_past_64_kib(server: str) -> None:
    done = healthkit("probe", f"{server}/big")

    assert 1 == done.returncode
    assert "; the body is larger than 64 KiB: not read\n" in done.stderr
    assert len(done.stderr) < SHORT


def test_a_redirect_is_healthy_and_not_followed(server: str) -> None:
    done = healthkit("probe", f"{server}/moved")

    assert 0 == done.returncode
    assert done.stderr.startswith(f"healthy: {server}/moved answered 302 Found;")


def test_a_name_that_does_not_resolve_is_unhealthy() -> None:
    done = healthkit("probe", "--timeout", "3", "http://healthkit-probe-test.invalid/readyz")

    assert 1 == done.returncode
    assert done.stderr.startswith(
        "unhealthy: http://healthkit-probe-test.invalid/readyz: "
        "cannot resolve host 'healthkit-probe-test.invalid'"
    )


# --- probe: servers that answer badly (a raw socket in a thread) ---


Answer = Callable[[socket.socket, threading.Event], None]


@contextmanager
def raw_server(answer: Answer, tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server answering each connection with ``answer``: (port, requests read)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    port: int = listener.getsockname()[1]
    requests: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(5)
            try:
                if tls is not None:
                    connection = tls.wrap_socket(connection, server_side=True)
                requests.append(read_request(connection))
                answer(connection, stop)
            except OSError:
                pass
            finally:
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, requests
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def replying(data: bytes) -> Answer:
    def answer(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(data)

    return answer


def dripping(connection: socket.socket, stop: threading.Event) -> None:
    """Headers at once, then a byte of the body every 0.1 s: no single read ever times out."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10000\r\n\r\n")
    while not stop.wait(0.1):
        connection.sendall(b"x")


def test_an_answer_that_is_not_http_is_unhealthy() -> None:
    with raw_server(replying(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")) as (port, _):
        done = healthkit("probe", f"http://127.0.0.1:{port}/readyz")

    assert 1 == done.returncode
    assert (
        f"unhealthy: http://127.0.0.1:{port}/readyz: not an HTTP answer: SSH-2.0-OpenSSH_9.2p1 Debian-2\n"
        == done.stderr
    )


def test_a_connection_closed_without_an_answer_is_unhealthy() -> None:
    with raw_server(replying(b"")) as (port, _):
        done = healthkit("probe", f"http://127.0.0.1:{port}/readyz")

    assert 1 == done.returncode
    assert done.stderr.endswith(": the server closed the connection without answering\n")


def test_the_timeout_bounds_the_whole_exchange_not_each_read() -> None:
    with raw_server(dripping) as (port, _):
        started = time.monotonic()
        done = healthkit("probe", "--timeout", "1", f"http://127.0.0.1:{port}/readyz", timeout=10)
        took = time.monotonic() - started

    assert 1 == done.returncode
    assert "timed out: no answer within 1s\n" in done.stderr
    assert took < 4


def test_server_text_is_escaped_and_cut_in_the_line() -> None:
    body = json.dumps(
        {"status": "fail", "output": "\x1b[2J" + "y" * 500, "checks": {"a\nb": [{"status": "DOWN"}]}}
    )
    answer = "HTTP/1.1 503 Oops\x1b[31m\r\nContent-Type: application/health+json\r\n"
    answer += f"Content-Length: {len(body)}\r\n\r\n{body}"
    with raw_server(replying(answer.encode())) as (port, _):
        done = healthkit("probe", f"http://127.0.0.1:{port}/readyz")

    assert 1 == done.returncode
    assert "\x1b" not in done.stderr
    assert "answered 503 Oops\\x1b[31m; status fail: \\x1b[2Jyyy" in done.stderr
    assert "...; failing: a\\nb\n" in done.stderr
    assert 1 == done.stderr.count("\n")
    assert len(done.stderr) < SHORT


def test_headers_are_sent_and_the_answer_asked_for_is_health_json() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with raw_server(replying(ok)) as (port, requests):
        done = healthkit(
            "probe",
            "--header",
            "Authorization: Bearer s3cret-token-value",
            "--header",
            "X-Probe:kubelet",
            f"http://127.0.0.1:{port}/readyz?verbose&token=abc",
        )

    assert 0 == done.returncode
    request = requests[0].decode()
    assert request.startswith("GET /readyz?verbose&token=abc HTTP/1.1\r\n")
    assert "\r\nAuthorization: Bearer s3cret-token-value\r\n" in request
    assert "\r\nX-Probe: kubelet\r\n" in request
    assert "\r\nAccept: application/health+json, application/json;q=0.9, */*;q=0.1\r\n" in request
    assert f"healthy: http://127.0.0.1:{port}/readyz answered 200 OK;" in done.stderr  # no query: tokens


def test_an_unexpected_error_is_the_verdict_not_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from healthkit import _prober

    def broken(*args: object) -> _prober.Verdict:
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(_prober, "_exchange", broken)
    started = time.monotonic()

    verdict = _prober.probe("http://127.0.0.1:9/readyz", timeout=5)

    assert (False, "unhealthy: http://127.0.0.1:9/readyz: RuntimeError: something unforeseen") == (
        verdict.healthy,
        verdict.line,
    )
    assert time.monotonic() - started < 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert, key)."""
    from tests.checks.conftest import LOOPBACK, NEW_KEY, openssl

    directory = tmp_path_factory.mktemp("tls")
    openssl(
        directory,
        ["req", "-x509", *NEW_KEY, "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", *LOOPBACK],
    )
    return directory / "cert.pem", directory / "key.pem"


def test_https_checks_the_certificate_against_the_system_trust(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with raw_server(replying(ok), tls=context) as (port, _):
        untrusted = healthkit("probe", f"https://127.0.0.1:{port}/readyz")
        trusted = healthkit("probe", f"https://127.0.0.1:{port}/readyz", env={"SSL_CERT_FILE": str(cert)})

    assert 1 == untrusted.returncode
    assert "SSLCertVerificationError" in untrusted.stderr
    assert 0 == trusted.returncode
    assert f"healthy: https://127.0.0.1:{port}/readyz answered 200 OK" in trusted.stderr


# --- probe: arguments ---


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://127.0.0.1/readyz"], "URL must start with http:// or https://"),
        (["127.0.0.1:8000/readyz"], "URL must start with http:// or https://"),
        (["http:///readyz"], "URL has no host"),
        (["http://a..b/readyz"], "URL has a host name that cannot be looked up"),
        (["http://127.0.0.1:99999/readyz"], "URL has a port that is not a number from 1 to 65535"),
        (["http://127.0.0.1:0/readyz"], "URL has a port that is not a number from 1 to 65535"),
        (["http://app:secret@127.0.0.1/readyz"], "URL must not hold credentials"),
        (["http://127.0.0.1/ready z"], "URL must not contain spaces or control characters"),
        (["--timeout", "0", "http://127.0.0.1/"], "--timeout must be a positive number of seconds"),
        (["--timeout", "-1", "http://127.0.0.1/"], "--timeout must be a positive number of seconds"),
        (["--timeout", "nan", "http://127.0.0.1/"], "--timeout must be a positive number of seconds"),
        (["--timeout", "inf", "http://127.0.0.1/"], "--timeout must be a positive number of seconds"),
        (["--timeout", "5s", "http://127.0.0.1/"], "--timeout must be a positive number of seconds"),
        (["--header", "Authorization", "http://127.0.0.1/"], "header must be NAME:VALUE"),
        (["--header", "Bad Name: x", "http://127.0.0.1/"], "header must be NAME:VALUE"),
        (
            ["--header", "X-A: 1\r\nX-B: 2", "http://127.0.0.1/"],
            "header X-A has a value with control characters",
        ),
        ([], "the following arguments are required: URL"),
    ],
)
def test_probe_refuses_bad_arguments_with_exit_2(args: list[str], message: str) -> None:
    done = healthkit("probe", *args)

    assert 2 == done.returncode
    assert message in done.stderr
    assert done.stderr.startswith("usage: python -m healthkit probe")


def test_probe_imports_only_the_standard_library(server: str) -> None:
    """Measured: the probe runs in a fresh interpreter; every module it imported is listed."""
    done = healthkit("probe", f"{server}/pass", python=("-X", "importtime"))
    imported = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }

    assert 0 == done.returncode
    assert {"healthkit", "healthkit._cli", "healthkit._prober"} <= imported
    assert set() == {name for name in imported if name.split(".")[0] in {"starlette", "anyio", "orjson"}}
    assert {"healthkit", "healthkit._cli", "healthkit._prober"} == {
        name for name in imported if "healthkit" in name
    }


def test_importing_healthkit_loads_its_dependencies_only_when_a_name_is_used() -> None:
    code = (
        "import sys, healthkit; deps = ('starlette', 'anyio', 'orjson');"
        "print(sorted(d for d in deps if d in sys.modules));"
        "healthkit.Health; print(sorted(d for d in deps if d in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )

    assert "[]\n['anyio', 'orjson', 'starlette']\n" == done.stdout, done.stderr


def test_every_public_name_resolves_lazily() -> None:
    import healthkit

    assert sorted(healthkit.__all__) == sorted(healthkit._MODULES)
    assert all(getattr(healthkit, name).__name__ == name for name in healthkit.__all__)
    assert set(healthkit.__all__) <= set(dir(healthkit))
    with pytest.raises(AttributeError, match="module 'healthkit' has no attribute 'Helth'"):
        healthkit.Helth  # type: ignore[attr-defined]  # noqa: B018


# --- run ---


def test_run_prints_the_listing_and_exits_0_on_pass() -> None:
    done = healthkit("run", "tests.apps.cli_app:passing")

    assert 0 == done.returncode
    assert "[+]db ok\n[+]cache ok\nhealth check passed\n" == done.stdout
    assert "" == done.stderr


def test_run_exits_0_on_warn() -> None:
    done = healthkit("run", "tests.apps.cli_app:warning")

    assert 0 == done.returncode
    assert "[+]db ok\n[+]replica warn: replica lag 12s\nhealth check passed\n" == done.stdout


def test_run_exits_1_on_fail_with_outputs_redacted_and_no_log_on_stderr() -> None:
    done = healthkit("run", "tests.apps.cli_app:failing")

    assert 1 == done.returncode
    assert re.fullmatch(
        r"\[-\]db failed: ConnectionRefusedError \(error id [0-9a-f]{6}\)\n"
        r"\[\+\]replica warn: replica lag 12s\n\[\+\]cache ok\nhealth check failed\n",
        done.stdout,
    )
    assert "" == done.stderr


def test_run_verbose_shows_the_log_with_the_error_id_and_traceback() -> None:
    done = healthkit("run", "tests.apps.cli_app:failing", "--verbose")
    error_id = re.search(r"error id ([0-9a-f]{6})", done.stdout)

    assert 1 == done.returncode
    assert error_id is not None
    assert (
        f"ERROR healthkit: Check 'db' is fail: ConnectionRefusedError (error id {error_id[1]})" in done.stderr
    )
    assert "Traceback (most recent call last):" in done.stderr


def test_run_json_prints_the_health_json_document() -> None:
    done = healthkit("run", "tests.apps.cli_app:failing", "--json")
    body = json.loads(done.stdout)

    assert 1 == done.returncode
    assert_valid_document(body)
    assert "fail" == body["status"]
    assert TOKEN[:8] not in done.stdout


def test_run_runs_the_endpoint_asked_for_with_its_lifecycle() -> None:
    live = healthkit("run", "tests.apps.cli_app:health", "--endpoint", "livez")
    ready = healthkit("run", "tests.apps.cli_app:maintenance", "--endpoint", "readyz")

    assert 0 == live.returncode
    assert "[+]eventLoop:lag ok\n[+]queue ok\nlivez check passed\n" == live.stdout
    assert 1 == ready.returncode
    assert "[-]ready failed: not ready: maintenance\nreadyz check failed\n" == ready.stdout


def test_run_one_check() -> None:
    done = healthkit("run", "tests.apps.cli_app:failing", "--check", "cache")
    unknown = healthkit("run", "tests.apps.cli_app:failing", "--check", "nope")

    assert 0 == done.returncode
    assert "[+]cache ok\nhealth check passed\n" == done.stdout
    assert 2 == unknown.returncode
    assert "error: health has no check named 'nope'; its checks are: db, replica, cache\n" in unknown.stderr


def test_run_gives_background_checks_their_first_call() -> None:
    """Inside health.running(), as a served app: not 'background refresh is not running'."""
    done = healthkit("run", "tests.apps.cli_app:background")

    assert 0 == done.returncode
    assert "[+]billing ok\nhealth check passed\n" == done.stdout


def test_run_on_trio() -> None:
    done = healthkit("run", "tests.apps.cli_app:warning", "--loop", "trio")

    assert 0 == done.returncode
    assert "[+]db ok\n[+]replica warn: replica lag 12s\nhealth check passed\n" == done.stdout


def test_run_works_from_another_directory_with_app_dir(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "healthkit",
        "run",
        "cli_app:passing",
        "--app-dir",
        str(ROOT / "tests" / "apps"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False
    )

    assert 0 == done.returncode, done.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "tests.apps.cli_app",
            "expected MODULE:ATTR naming a Health, like myapp.health:health, got 'tests.apps.cli_app'",
        ),
        ("tests.apps.nope:health", "no module named 'tests.apps.nope'"),
        (
            "tests.apps.cli_app:nope",
            "'tests.apps.cli_app' has no attribute 'nope'; the Health objects in tests.apps.cli_app are: "
            "background, failing, health, maintenance, passing, shown, warning",
        ),
        (
            "tests.apps.cli_app:app",
            "tests.apps.cli_app:app is a starlette.applications.Starlette, not a healthkit.Health; "
            "the Health objects in tests.apps.cli_app are: "
            "background, failing, health, maintenance, passing, shown, warning",
        ),
        ("tests.apps.cli_app:TOKEN", "tests.apps.cli_app:TOKEN is a str, not a healthkit.Health"),
        (
            "tests.servers:free_port",
            "tests.servers:free_port is a function, not a healthkit.Health; "
            "tests.servers has no Health at module level",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "describe"])
def test_a_target_that_is_not_a_health_exits_2_saying_what_was_found(
    command: str, target: str, message: str
) -> None:
    done = healthkit(command, target)

    assert 2 == done.returncode
    assert f"python -m healthkit {command}: error: {message}" in done.stderr
    assert "" == done.stdout


def test_an_app_that_fails_to_import_exits_2_with_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text("import not_installed_driver\n")

    done = healthkit("run", "broken_app:health", "--app-dir", str(tmp_path))

    assert 2 == done.returncode
    assert "ModuleNotFoundError: No module named 'not_installed_driver'" in done.stderr
    assert "error: importing 'broken_app:health' raised" in done.stderr


# --- describe ---


def test_describe_shows_which_endpoint_runs_which_checks_and_how() -> None:
    done = healthkit("describe", "tests.apps.cli_app:health")
    out = done.stdout

    assert 0 == done.returncode
    assert "" == done.stderr
    assert out.startswith(
        "Health with 7 checks\n  deadline 0.8s, cache_ttl 1s, max_threads 8, drain_delay 15s\n"
    )
    assert "  livez  /livez\n    checks: eventLoop:lag, queue\n" in out
    assert "  readyz  /readyz\n    checks: db, billing, search, upstream\n" in out
    assert "  startupz  /startupz\n    checks: migrations\n" in out
    assert "    warn only: db\n    kubelet probe: timeoutSeconds 1, periodSeconds 20\n" in out
    assert "during the drain after SIGTERM (15s)" in out
    assert "  db\n    endpoints: health, readyz\n    timeout 0.5s; critical; external\n" in out
    assert "    cache 2s, then stale for 10s while one call refreshes it\n" in out
    assert (
        "    background refresh every 15s plus up to 1.5s of jitter, first call 0s after start-up, "
        "results older than 33.5s fail\n" in out
    )
    assert (
        "  search\n    endpoints: health, readyz\n    timeout 0.5s; not critical\n"
        "    cache 1s (the Health's)\n" in out
    )
    assert (
        "damping: fail after 3 in a row and 30s in error (warn until then), pass again after 2 in a row"
        in out
    )


def test_describe_lists_the_start_up_warnings_of_that_health_only() -> None:
    done = healthkit("describe", "tests.apps.cli_app:health")
    warnings = done.stdout.split("start-up warnings:\n")[1]

    assert [
        "  Check 'upstream' has timeout 1.5s, longer than the deadline of health (0.8s): it is cut there",
        "  Check 'queue' checks an external dependency but is in the liveness probe: when it fails the "
        "kubelet restarts healthy pods; move it to readiness",
        "  Check 'upstream' has timeout 1.5s, longer than the deadline of readyz (0.8s): it is cut there",
        "  drain_delay 15s is shorter than the readiness periodSeconds 20s: the server may stop before the "
        "kubelet has seen readiness fail",
    ] == warnings.splitlines()
    assert "maintenance" not in warnings  # another Health's set_ready, logged at import


def test_describe_says_when_there_is_no_warning() -> None:
    done = healthkit("describe", "tests.apps.cli_app:passing")

    assert 0 == done.returncode
    assert done.stdout.endswith("start-up warnings:\n  none\n")


# --- packaging: the console script and the Dockerfile ---


def test_the_console_script_is_the_command_line() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]

    assert {"healthkit": "healthkit._cli:main"} == scripts


def test_the_console_script_names_itself_healthkit() -> None:
    code = (
        "import sys; from healthkit._cli import main; sys.argv[0] = '/venv/bin/healthkit'; sys.exit(main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "probe"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )

    assert 2 == done.returncode
    assert done.stderr.startswith("usage: healthkit probe")


def dockerfile_instructions() -> dict[str, list[str]]:
    """examples/Dockerfile: each instruction's arguments, continuation lines joined."""
    text = (EXAMPLES / "Dockerfile").read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.setdefault(keyword.upper(), []).append(rest.strip())
    return found


def test_the_dockerfile_healthcheck_probes_readiness_within_dockers_timeout(tmp_path: Path) -> None:
    instructions = dockerfile_instructions()
    options, _, command = instructions["HEALTHCHECK"][0].partition("CMD ")
    docker = dict(option.lstrip("-").split("=") for option in shlex.split(options))
    probe = json.loads(command)  # exec form: no shell needed in the image
    server = json.loads(instructions["CMD"][-1])
    url = probe[-1]
    port = free_port()

    assert ["python", "-m", "healthkit", "probe"] == probe[:4]
    assert "http://127.0.0.1:8000/readyz" == url
    assert float(probe[probe.index("--timeout") + 1]) < float(docker["timeout"].rstrip("s"))
    assert ["uvicorn", "service:app"] == server[:2]
    assert "8000" == server[server.index("--port") + 1]
    app = Server(
        [
            sys.executable,
            "-m",
            *server[:2],
            "--app-dir",
            str(EXAMPLES),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
        {"HEALTHKIT_SERVICE_DB": str(tmp_path / "orders.sqlite3"), "PYTHONPATH": str(ROOT)},
    )
    try:
        done = healthkit(*probe[3:-1], url.replace(":8000/", f":{port}/"))
    finally:
        app.stop()

    assert 0 == done.returncode, done.stderr
    assert f"healthy: http://127.0.0.1:{port}/readyz answered 200 OK; status pass\n" == done.stderr
