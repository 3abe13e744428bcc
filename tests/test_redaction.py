"""Redaction: the Redactor's shapes one by one, on the corpus of tests/secrets_corpus.py."""

from __future__ import annotations

import time
from typing import Any

import pytest

from healthkit._redact import Redactor
from tests.secrets_corpus import APP_PATTERNS, CORPUS, Secret

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


#: Measured on the development machine (CPython 3.11): 30 to 150 ms for each of these 100 KB
#: texts; a pattern that backtracks catastrophically takes minutes, a quadratic one tens of
#: seconds. The bound is generous so that a slow machine never fails it.
NEAR_MISSES = {
    "password without separators": "password ",
    "keys without values": "password=",
    "quotes that never close where they could": 'password="a"b ',
    "an unclosed quote": '"password": "abc',
    "escaped JSON": '\\"password\\": \\"a',
    "schemes without authority": "x://y:",
    "schemes and a late @": "x://a/x://a/@",
    "users without host": "a.a:b",
    "JWT starts": "eyJ",
    "PEM headers": "-----BEGIN PRIVATE KEY-----",
    "DER starts": "MII" + "A" * 40 + " \n" * 20,
    "percent escapes": "%41%",
    "a value running on": "a ",
    "a value running on to pairs": "a b: ",
    "flags": "--password ",
    "cookie headers": "Cookie: ",
    "authorization schemes": "bearer ",
    "spaces": " ",
    "backslashes": "\\",
    "quotes": '"',
    "mixed": 'pw:"a\\"b\'c',
}


@pytest.mark.parametrize("unit", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_100_kb_of_near_misses_is_masked_in_linear_time(unit: str) -> None:
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    if unit == "a " or unit == "a b: ":
        text = "password: " + text

    started = time.perf_counter()
    redact(text)
    took = time.perf_counter() - started

    assert took < 5.0, f"{took:.2f}s"
