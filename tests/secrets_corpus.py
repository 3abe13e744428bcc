"""Secrets as they show up in check outputs, exception text and observed values: test data for
tests/test_redaction.py.

Each ``Secret`` is one shape. ``secret`` is the needle: the part that must never leave, nor any
piece of it (its first and last 4 characters, or any 6 in a row). Needles carry "QZ", rare in
ordinary text, so a piece of one cannot be found by chance. ``key`` names the secret where the
shape has a name (``DB_PASSWORD``), for the structured framings (``{key: secret}``).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

__all__ = ["APP_PATTERNS", "CORPUS", "PUBLIC_PREFIXES", "Secret"]

_UPPER = string.ascii_uppercase + string.digits
_BASE64 = string.ascii_letters + string.digits + "+/"
_BASE64URL = string.ascii_letters + string.digits + "_-"

#: The fixed starts of token shapes: a piece of one of these is no piece of a secret.
PUBLIC_PREFIXES = [
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "AIza",
    "sk_live_",
    "rk_live_",
]

#: What the application adds with Health(redact=...): its own customer references.
APP_PATTERNS = [r"ACME-[0-9A-Z]{12}"]


@dataclass(frozen=True, slots=True)
class Secret:
    name: str
    text: str  # how it is written, with the needle in it
    secret: str  # the needle
    key: str | None = None

    def __post_init__(self) -> None:
        assert self.secret in self.text, self.name

    def pieces(self) -> set[str]:
        """What must not be found: the first and last 4 characters and every 6 in a row."""
        found = {self.secret[:4], self.secret[-4:]}
        found.update(self.secret[i : i + 6] for i in range(len(self.secret) - 5))
        return {piece for piece in found if piece.strip() == piece}


def _noise(label: str, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """Characters no other needle has (the same each run): a token's random part."""
    return "".join(random.Random(label).choices(alphabet, k=length))


def _s(name: str, template: str, secret: str, key: str | None = None) -> Secret:
    return Secret(name, template.replace("{s}", secret), secret, key)


CORPUS: list[Secret] = [
    # --- What the README promised before: URLs and DSNs, pairs, authorization schemes ---
    _s("url-password", "replica postgresql://billing:{s}@db.internal:5432/billing is slow", "UrlQZpw5k9Lm"),
    _s("url-password-at-slash", "postgresql://billing:{s}@db/billing", "p@QZ/sl4sh9Hx"),
    _s("redis-password-no-user", "redis://:{s}@cache:6379/0 refused", "RedQZis7Tq2w"),
    _s("dsn-without-scheme", "could not reach billing:{s}@db.internal:5432", "BareQZ8dsnPw"),
    _s("url-percent-encoded", "next=https%3A%2F%2Fbilling%3A{s}%40db.internal", "PcuQZ3url9Ka"),
    _s("query-percent-encoded", "callback%3Fpassword%3D{s}%26page%3D2", "PcqQZ4qry7Mn"),
    _s("query-api-key", "GET https://api.test/v1?api_key={s}&page=2 returned 401", "QryQZ5key2Vb", "api_key"),
    _s("password-equals", "login with password={s} refused", "PwdQZ6eq1Rt", "password"),
    _s("env-db-password", "DB_PASSWORD={s} DB_HOST=db", "EnvQZ7db3Yu", "DB_PASSWORD"),
    _s("env-pgpassword", "PGPASSWORD={s} psql -h db", "PgpQZ8pw4Io", "PGPASSWORD"),
    _s(
        "aws-secret-access-key",
        "aws_secret_access_key={s}",
        "wJalrXUtnFEMI/K7MDENG/QZxRfiCYEXAMPLEKEY",
        "aws_secret_access_key",
    ),
    _s("json-api-key", '{"api_key": "{s}", "region": "eu"}', "JsnQZ9ak5Pl", "api_key"),
    _s("python-repr-password", "{'password': '{s}', 'user': 'app'}", "ReprQZ1pw6Ak", "password"),
    _s("authorization-bearer", "Authorization: Bearer {s}", "BrrQZ2tok7Sd", "Authorization"),
    _s("bearer-in-prose", "upstream said: bearer {s} rejected", "BrbQZ3tok8Fg"),
    _s("authorization-apikey", "Authorization: ApiKey {s}", "ApkQZ4sch9Hj", "Authorization"),
    _s("authorization-basic", "Authorization: Basic {s}", "QmFzaWNRWjp1c2VyOnBhc3M=", "Authorization"),
    _s("app-pattern", "customer ref {s} charged twice", "ACME-QZ5K8W2P7R1T"),
    # --- From the issue: leaked before ---
    _s("escaped-quote", 'config {"password": "{s}"}', 'Pa\\"ssQZ6ESCt', "password"),
    _s("unescaped-inner-quote", 'config {"password": "{s}"}', 'Pa"ssQZ7INNr', "password"),
    _s("escaped-json-in-text", '{\\"password\\": \\"{s}\\"}', "EscQZ3js4Zq", "password"),
    _s("secret-key", "SECRET_KEY={s}", "SkQZ8django0x", "SECRET_KEY"),
    _s("signing-key", "signing_key={s}", "SgnQZ9key1Cv", "signing_key"),
    _s("signing-key-dashed", "signing-key: {s}", "SgdQZ1key2Bn", "signing-key"),
    _s("encryption-key", "encryption_key={s}", "EncQZ2key3Nm", "encryption_key"),
    _s("passphrase", "passphrase={s}", "PphQZ3phr4Qw", "passphrase"),
    _s("pw", "pw={s}", "PwwQZ0pw5Er", "pw"),
    _s("client-secret", "client_secret={s}&grant_type=client_credentials", "CsQZ5sec6Ty", "client_secret"),
    _s("session", "session={s}", "SesQZ6ses7Ui", "session"),
    _s("x-api-key-header", "x-api-key: {s}", "XakQZ7hdr8Op", "x-api-key"),
    _s("camel-case-api-key", '{"apiKey":"{s}"}', "CamQZ8api9As", "apiKey"),
    _s("json-token", '{"token": "{s}"}', "TokQZ9jsn1Df", "token"),
    _s("query-access-token", "GET /callback?code=1&access_token={s}", "AtkQZ1qry2Gh", "access_token"),
    _s(
        "url-token-as-user",
        "git fetch https://{s}@github.com/org/repo.git failed",
        f"tokQZ2{_noise('url-user', 18)}",
    ),
    _s(
        "url-token-x-oauth-basic",
        "https://{s}:x-oauth-basic@github.com/org/repo",
        f"OabQZ1{_noise('oauth-basic', 12)}",
    ),
    _s("url-token-user-redis", "redis://{s}@cache:6379", f"RtkQZ2{_noise('redis-user', 16)}"),
    _s(
        "dsn-password-after-line-break",
        "could not connect to postgresql://app:\n{s}@db.internal/app",
        "BrkQZ3dsn4Jk",
    ),
    _s(
        "libpq-password-on-next-line",
        "host=db user=app\npassword={s} sslmode=require",
        "LbkQZ4lq5Lz",
        "password",
    ),
    _s("yaml-password-on-next-line", "password:\n  {s}", "YamQZ4ym5Wx", "password"),
    _s("password-running-on-after-space", "login failed: password: {s}", "hUnQZ5ter2 SPACEDtail", "password"),
    _s("cookie-header", "Cookie: theme=dark; sid={s}; lang=en", "CkiQZ6cki7Xc", "Cookie"),
    _s("set-cookie-header", "Set-Cookie: id={s}; Path=/; HttpOnly", "SckQZ7id8Vb", "Set-Cookie"),
    _s("flag-and-argument", "ran pg_dump --password {s} --host db", "FlgQZ8arg9Nb", "password"),
    _s("flag-equals", "ran mysql --password={s} -h db", "FleQZ9arg1Mv", "password"),
    _s("aws-access-key-id-env", "AWS_ACCESS_KEY_ID={s}", "AkidQZ2notshape9", "AWS_ACCESS_KEY_ID"),
    # --- Token shapes: masked wherever they are ---
    _s("aws-akia", "credentials for {s} rejected", f"AKIAQZ{_noise('akia', 14, _UPPER)}"),
    _s("aws-asia", "session key {s} expired", f"ASIAQZ{_noise('asia', 14, _UPPER)}"),
    _s(
        "jwt",
        "token rejected: {s}",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJRWjMifQ." + f"QZ{_noise('jwt', 41, _BASE64URL)}",
    ),
    _s(
        "pem-private-key",
        "bad key:\n-----BEGIN RSA PRIVATE KEY-----\n{s}\n-----END RSA PRIVATE KEY-----\ndone",
        f"MIIEpQZ{_noise('pem', 57, _BASE64)}\n{_noise('pem2', 64, _BASE64)}",
    ),
    _s(
        "pem-private-key-cut-off",
        "bad key:\n-----BEGIN PRIVATE KEY-----\n{s}",
        f"MIIJvQZ{_noise('cut', 57, _BASE64)}\n{_noise('cut2', 30, _BASE64)}",
    ),
    _s(
        "der-key-body",
        "key body {s} is invalid",
        f"MIICvQZ{_noise('der', 60, _BASE64)}",
    ),
    _s("github-ghp", "push with {s} denied", f"ghp_QZ{_noise('ghp', 34)}"),
    _s("github-gho", "oauth {s} revoked", f"gho_QZ{_noise('gho', 34)}"),
    _s("github-pat", "clone with {s} failed", f"github_pat_11QZ{_noise('pat', 22)}_{_noise('pat2', 59)}"),
    _s(
        "slack-bot",
        "slack {s} invalid_auth",
        f"xoxb-{_noise('xoxb', 12, string.digits)}-QZ{_noise('xoxb2', 24)}",
    ),
    _s(
        "slack-user",
        "slack {s} invalid_auth",
        f"xoxp-{_noise('xoxp', 12, string.digits)}-QZ{_noise('xoxp2', 24)}",
    ),
    _s("google-api-key", "maps {s} denied", f"AIzaQZ{_noise('aiza', 33)}"),
    _s("stripe-secret-key", "charge with {s} failed", f"sk_live_SQZ{_noise('sk', 24)}"),
    _s("stripe-restricted-key", "refund with {s} failed", f"rk_live_RQZ{_noise('rk', 24)}"),
]

assert len({secret.name for secret in CORPUS}) == len(CORPUS)
assert len({secret.secret for secret in CORPUS}) == len(CORPUS)
