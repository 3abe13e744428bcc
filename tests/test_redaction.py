"""Redaction: the Redactor's shapes one by one, and a corpus of secrets sent through the public
API in every framing, to every endpoint, form and detail level, on both event loops: no needle,
nor a piece of one, leaves in a body, in what a listener gets, or in a log message."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx2
import orjson
import pytest
from starlette.applications import Starlette

from healthkit import Check, Health, Probe, Result, Status, bearer_token
from healthkit._redact import Redactor
from tests.secrets_corpus import APP_PATTERNS, CORPUS, PUBLIC_PREFIXES, Secret

redact = Redactor(APP_PATTERNS)


# --- The Redactor alone ----------------------------------------------------------------------


@pytest.mark.parametrize("secret", CORPUS, ids=lambda secret: secret.name)
def test_each_shape_is_masked(secret: Secret) -> None:
    masked = redact(secret.text)

    assert "***" in masked
    assert [] == sorted(piece for piece in secret.pieces() if piece in masked)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('config {"password": "pa\\"ssTAIL"}', 'config {"password": ***}'),
        ('config {"password": "pa"ssTAIL"}', 'config {"password": ***}'),
        ("{'password': 'x', 'user': 'app'}", "{'password': ***, 'user': 'app'}"),
        ('{\\"api_key\\": \\"x\\"}', '{\\"api_key\\": ***}'),
        ("SECRET_KEY=x signing_key=y encryption_key=z", "SECRET_KEY=*** signing_key=*** encryption_key=***"),
        ("passphrase=x pw=y", "passphrase=*** pw=***"),
        ("DB_PASSWORD=x DB_HOST=db", "DB_PASSWORD=*** DB_HOST=db"),
        ("password: hunter2 spaced", "password: ***"),
        ("password: hunter2 spaced, retrying in 5s", "password: ***, retrying in 5s"),
        ("password=hunter2; failed 2 in a row", "password=***; failed 2 in a row"),
        ("host=db user=app\npassword=x sslmode=require", "host=db user=app\npassword=*** sslmode=require"),
        ("password:\n  x", "password:\n  ***"),
        ("GET https://api.test/v1?api_key=k-1&page=2", "GET https://api.test/v1?api_key=***&page=2"),
        ("password=abc&leak-14", "password=***"),
        ("ran pg_dump --password hunter2 --host db", "ran pg_dump --password *** --host db"),
        ("ran mysql --password=hunter2 -h db", "ran mysql --password=*** -h db"),
        ('ran ["pg_dump", "--password", "hunter2"]', 'ran ["pg_dump", "--password", ***]'),
        ("ran ['pg_dump', '--password', 'hunter2', '-h']", "ran ['pg_dump', '--password', ***, '-h']"),
        ("Cookie: theme=dark; sid=x; lang=en", "Cookie: ***"),
        ("Set-Cookie: id=x; Path=/; HttpOnly\nnext", "Set-Cookie: ***\nnext"),
        ("x-api-key: x", "x-api-key: ***"),
        ("apiKey=a myApiKey=b dbPass=c", "apiKey=*** myApiKey=*** dbPass=***"),
        ("JSESSIONID=a; PHPSESSID=b", "JSESSIONID=***; PHPSESSID=***"),
        ("Authorization: Digest username=app, response=x\nnext", "Authorization: ***\nnext"),
        ("upstream said bearer abc", "upstream said bearer ***"),
        ("Basic dXNlcjpwYXNz", "Basic ***"),
        ("postgresql://billing:s3cr3t@db/billing", "postgresql://billing:***@db/billing"),
        ("postgresql://billing:p@ss/w@db/billing", "postgresql://billing:***@db/billing"),
        ("redis://:s3cr3t@cache:6379/0", "redis://:***@cache:6379/0"),
        ("billing:s3cr3t@db:5432", "billing:***@db:5432"),
        (
            "could not connect to postgresql://app:\ns3cr3t@db/app",
            "could not connect to postgresql://app:\n***@db/app",
        ),
        ("git fetch https://tok3n@github.com/org/repo.git", "git fetch https://***@github.com/org/repo.git"),
        ("https://tok3n:x-oauth-basic@github.com/org", "https://***:x-oauth-basic@github.com/org"),
        ("redis://0a1b2c3d4e5f6a7b8c9d@cache", "redis://***@cache"),
        ("postgresql://app@db/app ssh://git@github.com", "postgresql://app@db/app ssh://git@github.com"),
        ("https%3A%2F%2Fbilling%3As3cr3t%40db", "https://billing:***@db"),
        ("AKIAIOSFODNN7EXAMPLE, AWS_ACCESS_KEY_ID=AKID", "***, AWS_ACCESS_KEY_ID=***"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl done", "jwt *** done"),
        (
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAK\nCAQEA\n-----END RSA PRIVATE KEY-----\nok",
            "key:\n-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----\nok",
        ),
        ("key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN", "key:\n-----BEGIN PRIVATE KEY-----***"),
        ("push ghp_0123456789abcdefghijklmnopqrstuvwxyz denied", "push *** denied"),
        ("slack xoxb-1234567890-abcdefghij failed", "slack *** failed"),
        ("charge sk_live_abcdefghij1234 failed", "charge *** failed"),
    ],
)
def test_what_names_a_secret_stays_and_the_secret_goes(text: str, masked: str) -> None:
    assert masked == redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "timed out after 0.5s",
        "timed out after 0.8s (the probe's deadline)",
        "GET http://billing/health returned 503",
        "GET https://api.example.com/v1/health?page=2 returned 200",
        "status: pass",
        "3 passed",
        "passed: 12, failed: 0",
        "passing: 3",
        "pass rate: 99.9%",
        "disk 91% used",
        "postgresql://db:5432/app",
        "redis://cache:6379/0 refused",
        "cannot connect to 127.0.0.1:2525: connection refused",
        "http://auth:8080/health returned 503",
        "auth:8080 down",
        "bypass: on",
        "BYPASS=1",
        "compass: north",
        "keyboard: us",
        "possession: 3",
        "tokens: 3",
        "max_tokens=4096",
        "token_count: 12",
        "token expired",
        "token bucket 3/5 full",
        "basic auth failed",
        "sessions: 4",
        "session_count: 4",
        "session timeout after 30s",
        "secrets: 2 mounted",
        "secret_name: db-creds",
        "passwords: 2 rotated",
        'password authentication failed for user "app"',
        "authentication failed",
        "key=orders:42 missing",
        "cache_key=user:42",
        "primary_key: id",
        "routing_key=orders",
        "signal: SIGTERM",
        "user@example.com",
        "mailto:ops@example.com",
        "ConnectionRefusedError (error id 7f3a9c)",
        "returned bool, expected a Result or None",
        "500 jobs waiting",
        "replica lag 1.5s behind primary",
        "2026-12-02T17:23:00Z",
        "http://[::1]:8080/health",
        "file:///var/lib/app.db",
        pytest.param("x" * 2000, id="2000 x"),
    ],
)
def test_ordinary_health_outputs_are_left_alone(text: str) -> None:
    assert text == redact(text)


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "pw",
        "secret",
        "token",
        "credentials",
        "credential",
        "auth",
        "authorization",
        "Proxy-Authorization",
        "signature",
        "sig",
        "cookie",
        "set-cookie",
        "session",
        "sessionid",
        "JSESSIONID",
        "PHPSESSID",
        "api_key",
        "apikey",
        "x-api-key",
        "secret_key",
        "SECRET_KEY",
        "signing-key",
        "encryption_key",
        "access_key_id",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "private_key",
        "client_key",
        "client_secret",
        "DB_PASSWORD",
        "PGPASSWORD",
        "db.password",
        "dbPass",
        "myApiKey",
        "requirepass",
        "masterauth",
        "SharedAccessKey",
        "AccountKey",
        "access_token",
        "refresh-token",
        "X-Amz-Security-Token",
    ],
)
def test_secret_looking_keys_are_masked_in_every_spelling(key: str) -> None:
    value = "Zq9xSecret"

    assert f"{key}=***" == redact(f"{key}={value}")
    assert f"{key}: ***" == redact(f"{key}: {value}")
    assert f'{{"{key}": ***}}' == redact(f'{{"{key}": "{value}"}}')
    assert {key: "***"} == redact.value({key: value})


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ({"password": "x"}, {"password": "***"}),
        ({"api_key": {"nested": 1}}, {"api_key": "***"}),
        ({"db": {"PGPASSWORD": 5, "host": "db"}}, {"db": {"PGPASSWORD": "***", "host": "db"}}),
        ({"password": None}, {"password": None}),
        ({"password": 1234, "pw": "x", "session": "s"}, {"password": "***", "pw": "***", "session": "***"}),
        ({"pass": 3, "warn": 1, "fail": 0, "session": 2}, {"pass": 3, "warn": 1, "fail": 0, "session": 2}),
        ({"tokens": 3, "passed": 5, "status": "pass"}, {"tokens": 3, "passed": 5, "status": "pass"}),
        ({"dsn": "postgresql://a:b@db/app"}, {"dsn": "postgresql://a:***@db/app"}),
        (["--password", "x"], ["--password", "***"]),
        (
            ["pg_dump", "--db-password", "x", "--host", "db"],
            ["pg_dump", "--db-password", "***", "--host", "db"],
        ),
        (["--password=x", "-v"], ["--password=***", "-v"]),
        (("requirepass", "x"), ["requirepass", "***"]),
        (["password:", 1234], ["password:", "***"]),
        (["--password", "--verbose"], ["--password", "--verbose"]),
        (["pass", "warn", "fail"], ["pass", "warn", "fail"]),
        (["session", "auth"], ["session", "auth"]),
        (["-p", "5432"], ["-p", "5432"]),
        ([{"token": "x"}, ["--token", "y"]], [{"token": "***"}, ["--token", "***"]]),
        ({"replica": ["AKIAIOSFODNN7EXAMPLE"]}, {"replica": ["***"]}),
        (12.5, 12.5),
        (None, None),
    ],
)
def test_structured_values_are_masked_by_key_and_by_neighbour(value: Any, masked: Any) -> None:
    assert masked == redact.value(value)


AGAIN = {
    "repr": repr,
    "a tuple's repr": lambda text: str(("connect", text)),
    "JSON": json.dumps,
    "JSON in JSON": lambda text: json.dumps(json.dumps({"message": text})),
    "percent-encoded": urllib.parse.quote,
    "in parentheses": lambda text: f"({text})",
    "a sentence": lambda text: f"failed: {text}. Retrying",
    "a list": lambda text: f"{text}, retrying; attempt 2",
    "CRLF": lambda text: f"{text}\r\nnext",
}


@pytest.mark.parametrize("again", AGAIN.values(), ids=AGAIN.keys())
@pytest.mark.parametrize("secret", CORPUS, ids=lambda secret: secret.name)
def test_each_shape_is_masked_when_quoted_or_encoded_again(
    secret: Secret, again: Callable[[str], str]
) -> None:
    masked = redact(again(secret.text))

    assert [] == sorted(piece for piece in secret.pieces() if piece in masked)


OWN_SUFFIXES = [
    " (error id 7f3a9c)",
    "... (cut, 2000 characters in all)",
    "; failed 2 in a row (fail after 3 in a row)",
]


@pytest.mark.parametrize("secret", CORPUS, ids=lambda secret: secret.name)
def test_masking_twice_changes_nothing_and_keeps_healthkits_own_suffixes(secret: Secret) -> None:
    once = redact(secret.text)

    assert once == redact(once)
    for suffix in OWN_SUFFIXES:
        assert redact(once + suffix).endswith(suffix)


def test_the_applications_own_patterns_apply_after_the_built_in_ones() -> None:
    mine = Redactor([r"ACME-\w+", r"internal\.example"])

    assert "ref *** at db.*** password=***" == mine("ref ACME-42 at db.internal.example password=x")


#: Measured on the development machine (CPython 3.11): 20 to 90 ms for each of these 100 KB
#: texts; a pattern that backtracks catastrophically takes minutes, a quadratic one tens of
#: seconds. The bound is generous so that a slow machine never fails it.
NEAR_MISSES = {
    "password without separators": ("", "password "),
    "keys without values": ("", "password="),
    "quotes that never close where they could": ("", 'password="a"b '),
    "an unclosed quote": ("", '"password": "abc'),
    "escaped JSON": ("", '\\"password\\": \\"a'),
    "escapes at depth": ("", 'password=\\\\\\"a '),
    "a run of backslashes": ("password=", "\\"),
    "schemes without authority": ("", "x://y:"),
    "schemes and a late @": ("", "x://a/x://a/@"),
    "users without host": ("", "a.a:b"),
    "JWT starts": ("", "eyJ"),
    "PEM headers": ("", "-----BEGIN PRIVATE KEY-----"),
    "DER starts": ("", "MII" + "A" * 40 + " \n" * 20),
    "percent escapes": ("", "a+b%41%"),
    "a value running on": ("password: ", "a "),
    "a value running on to pairs": ("password: ", "a b: "),
    "flags": ("", "--password "),
    "cookie headers": ("", "Cookie: "),
    "authorization schemes": ("", "bearer "),
    "spaces": ("", " "),
    "quotes": ("", '"'),
    "mixed": ("", 'pw:"a\\"b\'c'),
}


@pytest.mark.parametrize(("head", "unit"), NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_100_kb_of_near_misses_is_masked_in_linear_time(head: str, unit: str) -> None:
    text = head + (unit * (100_000 // len(unit) + 1))[:100_000]

    started = time.perf_counter()
    redact(text)
    took = time.perf_counter() - started

    assert took < 5.0, f"{took:.2f}s"


# --- The corpus through the public API ---------------------------------------------------------

TOKEN = "0123456789abcdef-health"
AUTHORIZED = {"authorization": f"Bearer {TOKEN}"}

#: Where a secret is put. Each is a check (or the not-ready reason) carrying one secret.
FRAMINGS = [
    "output",  # Result(WARN, output=text)
    "error_exposed",  # raise RuntimeError(text), Health(expose_errors=True)
    "error_withheld",  # raise RuntimeError(text), expose_errors=False
    "observed_text",  # observed_value=text
    "observed_mapping",  # observed_value={"marker": ..., "config": {key: secret}}
    "observed_list",  # observed_value=[marker, "--<key>", secret, "--verbose", text]
    "observed_unit",  # observed_unit=text
    "affected_endpoints",  # affected_endpoints=[text]
    "not_ready_reason",  # health.set_ready(False, text)
    "wrong_return",  # the check returns text instead of a Result
    "not_json",  # observed_value={"detail": text, "handle": object()}
]

#: Where each framing's text (its context: the marker) must get to, so that no case is vacuous.
REACHES = {
    "output": {"json", "text", "a listener", "a log message"},
    "error_exposed": {"json", "text", "a listener", "a log message"},
    "error_withheld": set(),  # withheld everywhere; the error id is shown instead
    "observed_text": {"json"},
    "observed_mapping": {"json"},
    "observed_list": {"json"},
    "observed_unit": {"json"},
    "affected_endpoints": {"json"},
    "not_ready_reason": {"json", "text", "a log message"},
    "wrong_return": set(),  # logged by type only: nothing of the value leaves
    "not_json": set(),  # logged by field and type only
}

#: Cases that leak at a place that is not the redactor's: the call site does not redact.
ENGINE_GAPS: Mapping[str, str] = {}

#: (name, the Probe's details, headers): the four ways a client meets a detail level.
Details = Literal["never", "when_authorized", "always"]
DETAIL_LEVELS: tuple[Details, ...] = ("always", "when_authorized", "never")
CLIENTS: list[tuple[str, Details, dict[str, str]]] = [
    ("always", "always", {}),
    ("authorized", "when_authorized", AUTHORIZED),
    ("unauthorized", "when_authorized", {}),
    ("never", "never", {}),
]
#: (name, query, headers): the document and the text listing, asked for both ways.
FORMS = [("json", "", {}), ("verbose", "?verbose", {}), ("text/plain", "", {"accept": "text/plain"})]
ROLE_PATHS = ["/startupz", "/livez", "/readyz", "/health"]


def marker(secret: Secret) -> str:
    return f"ctx-{CORPUS.index(secret):02d}"


#: What is sent around the needles: the corpus's texts without them, check names, the framings'
#: words. A piece of a needle found in here (the "github" of "github_pat_...") proves nothing.
BOILERPLATE = "\n".join(
    [s.text.replace(s.secret, "\n") for s in CORPUS]
    + [s.name for s in CORPUS]
    + PUBLIC_PREFIXES
    + ["marker config detail handle --verbose --password gate closed"]
)
_ORDINARY = re.compile(r"[0-9a-f.:\-]+")  # durations, times, error ids


def distinctive(secret: Secret) -> set[str]:
    """The pieces of a needle that can only come from it."""
    return {p for p in secret.pieces() if p not in BOILERPLATE and not _ORDINARY.fullmatch(p)}


def test_every_needle_has_pieces_of_its_own() -> None:
    owners: dict[str, list[str]] = {}
    for secret in CORPUS:
        for piece in distinctive(secret):
            owners.setdefault(piece, []).append(secret.name)

    assert [] == [s.name for s in CORPUS if len(distinctive(s)) < 5]
    assert {} == {piece: names for piece, names in owners.items() if len(names) > 1}


def check_for(framing: str, secret: Secret) -> Callable[[], Awaitable[Result | None]]:
    text = f"{marker(secret)} {secret.text}"
    flag = "--" + (secret.key or "password").lower().replace("_", "-")

    async def check() -> Result | None:
        if framing in ("error_exposed", "error_withheld"):
            raise RuntimeError(text)
        if framing == "wrong_return":
            return text  # type: ignore[return-value]
        result = {
            "output": Result(Status.WARN, output=text),
            "observed_text": Result(Status.WARN, observed_value=text),
            "observed_mapping": Result(
                Status.WARN,
                observed_value={
                    "marker": marker(secret),
                    "config": {secret.key: secret.secret} if secret.key else {"detail": text},
                },
            ),
            "observed_list": Result(
                Status.WARN, observed_value=[marker(secret), flag, secret.secret, "--verbose", text]
            ),
            "observed_unit": Result(Status.WARN, observed_value=1, observed_unit=text),
            "affected_endpoints": Result(Status.WARN, affected_endpoints=[text]),
            "not_json": Result(Status.WARN, observed_value={"detail": text, "handle": object()}),
        }
        return result[framing]

    return check


async def gate() -> Result:
    """A startup check that never passes: /startupz and /readyz run every check on each probe."""
    return Result(Status.FAIL, output="gate closed")


async def plain() -> None:
    return None


def health_for(framing: str, secrets: list[Secret], details: Details) -> Health:
    every_probe = ("live", "ready", "startup")
    if framing == "not_ready_reason":
        checks = [Check("plain", plain, tags=every_probe)]
    else:
        checks = [Check(s.name, check_for(framing, s), tags=every_probe) for s in secrets]
        checks.append(Check("gate", gate, tags=("startup",)))
    probe = Probe(details=details)
    return Health(
        checks,
        cache_ttl=60,  # the first probe calls every check and renders it fresh, the others cached
        redact=APP_PATTERNS,
        expose_errors=framing == "error_exposed",
        authorize=bearer_token(TOKEN) if details == "when_authorized" else None,
        report=probe,
        liveness=probe,
        readiness=probe,
        startup=probe,
    )


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys too, decoded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


class Messages(logging.Handler):
    """The healthkit logger's messages, without the exception a record carries (exc_info is the
    operator's, as the README says)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass(repr=False)  # pytest shows it when an assertion fails: it must be short
class Sweep:
    """What left, for one framing on one event loop: (where, text) of every body, listener
    output and log message, and, per secret, the detailed body that must show its context."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    detailed: dict[str, str] = field(default_factory=dict)
    _grams: set[str] | None = None
    _reached: dict[str, set[str]] | None = None

    def __repr__(self) -> str:
        return f"<Sweep: {len(self.sent)} texts sent>"

    def leaks(self, secret: Secret) -> list[str]:
        if self._grams is None:
            # Every 4 and 6 characters in a row that left (pieces are that long), found once
            # for the 59 cases that look here.
            sent = "\n".join({text for _, text in self.sent})
            self._grams = {sent[i : i + n] for n in (4, 6) for i in range(len(sent) - n + 1)}
        pieces = sorted(distinctive(secret) & self._grams)[:3]
        return [
            next(_around(piece, where, text) for where, text in self.sent if piece in text)
            for piece in pieces
        ]

    def reached(self, secret: Secret) -> set[str]:
        """The kinds of place (json, text, a listener, a log message) its context got to."""
        if self._reached is None:
            self._reached = {}
            for where, text in self.sent:
                kind = where if where in ("a listener", "a log message") else where.split()[1]
                kind = {"verbose": "text", "text/plain": "text"}.get(kind, kind)
                for found in _MARKER.findall(text):
                    self._reached.setdefault(found, set()).add(kind)
        return self._reached.get(marker(secret), set())


_MARKER = re.compile(r"ctx-\d\d")


def _around(piece: str, where: str, text: str) -> str:
    at = text.index(piece)
    return f"{piece!r} in {where}: ...{text[max(at - 40, 0) : at + 40]!r}..."


_SWEEPS: dict[tuple[str, str], Sweep] = {}


def sweep(framing: str, loop: str) -> Sweep:
    """Every secret of the corpus in ``framing``, through every endpoint, form and client, on
    ``loop``: once, for all the cases that look at it (each case is a plain test, so 1300 of
    them take a second, not an event loop each)."""
    if (loop, framing) not in _SWEEPS:
        _SWEEPS[loop, framing] = anyio.run(_sweep, framing, backend=loop)
    return _SWEEPS[loop, framing]


async def _sweep(framing: str) -> Sweep:
    result = Sweep()
    handler = Messages()
    logger = logging.getLogger("healthkit")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # pytest's own capture would format every traceback
    logger.addHandler(handler)
    try:
        groups = [[secret] for secret in CORPUS] if framing == "not_ready_reason" else [CORPUS]
        for secrets in groups:
            for details in DETAIL_LEVELS:
                await _serve(framing, secrets, details, result)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    result.sent += [("a log message", message) for message in handler.messages]
    return result


async def _serve(framing: str, secrets: list[Secret], details: Details, result: Sweep) -> None:
    health = health_for(framing, secrets, details)
    changes: list[str] = []
    health.on_change(lambda change: changes.append(repr(change)))
    if framing == "not_ready_reason":
        health.set_ready(False, f"{marker(secrets[0])} {secrets[0].text}")
        paths = ROLE_PATHS
    else:
        paths = ROLE_PATHS + [f"/readyz/{secret.name}" for secret in secrets]
    app = Starlette(routes=health.routes())
    for client, client_details, auth in CLIENTS:
        if client_details != details:
            continue
        for path in paths:
            for form, query, headers in FORMS:
                if form == "text/plain" and path not in ROLE_PATHS:
                    continue  # the same listing as ?verbose, asked for on every role's path
                sent_headers, body = await fetch(app, path, query, {**auth, **headers})
                where = f"{path} {form} {client}"
                text = body.decode()
                result.sent += [(where, text), (f"{where} headers", sent_headers)]
                if form == "json":
                    result.sent += [(where, string) for string in strings(orjson.loads(body))]
                    if client == "always":
                        result.detailed[shown_at(framing, secrets[0], path)] = text
    result.sent += [("a listener", change) for change in changes]


async def fetch(app: Starlette, path: str, query: str, headers: Mapping[str, str]) -> tuple[str, bytes]:
    """One GET straight into the app (as tests/conftest.py's probe does: the sweep makes
    thousands of requests, and an HTTP client would double its time): (headers, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.lstrip("?").encode(),
        "headers": [(key.encode(), value.encode()) for key, value in headers.items()],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    messages: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    assert messages[0]["status"] in (200, 503)
    return repr(messages[0]["headers"]), b"".join(m.get("body", b"") for m in messages[1:])


def shown_at(framing: str, secret: Secret, path: str) -> str:
    """Where the detailed body that must show a secret's context is kept."""
    return f"{path} for {secret.name}" if framing == "not_ready_reason" else path


def corpus_cases() -> Iterator[Any]:
    for framing in FRAMINGS:
        gap = ENGINE_GAPS.get(framing)
        marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=gap)] if gap else []
        for secret in CORPUS:
            yield pytest.param(framing, secret, id=f"{framing}-{secret.name}", marks=marks)


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
@pytest.mark.parametrize(("framing", "secret"), list(corpus_cases()))
def test_no_secret_leaves_through_any_endpoint_form_or_detail_level(
    framing: str, secret: Secret, loop: str
) -> None:
    __tracebackhide__ = True  # (pytest would parse this long file again for each of the xfails)
    result = sweep(framing, loop)
    shown = result.detailed[
        shown_at(framing, secret, "/readyz" if framing == "not_ready_reason" else f"/readyz/{secret.name}")
    ]

    assert [] == result.leaks(secret)
    # Not vacuous: the check ran, and its text got where it could leak, to be masked there.
    assert REACHES[framing] == result.reached(secret)
    if framing == "error_withheld":
        assert "(error id " in shown
    elif framing == "wrong_return":
        assert "returned str, expected a Result or None" in shown
    elif framing == "not_json":
        assert "observed_value of type dict is not JSON-serializable" in shown
    else:
        assert marker(secret) in shown
        assert "***" in shown


async def test_the_sweep_finds_a_secret_that_leaks() -> None:
    """The corpus test against itself: a check that reports a needle where no redactor looks
    (its name is not redacted, as the README says) is found."""
    leaky = Secret("leaky", "shown as a check name: LeakQZ1needle", "LeakQZ1needle")
    result = Sweep()
    health = Health([Check(leaky.secret, plain)])
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=Starlette(routes=health.routes())), base_url="http://testserver"
    ) as client:
        result.sent.append(("/health", (await client.get("/health")).text))

    assert result.leaks(leaky)
