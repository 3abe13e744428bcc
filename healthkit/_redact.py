"""Redaction: every string healthkit sends or logs passes through here first.

Each match becomes ``***``; what names it (the key, the scheme, the header, ``-----BEGIN ...``)
stays, so an operator still sees what was there.

- Token shapes, wherever they appear: AWS access key ids (``AKIA``/``ASIA`` + 16), GitHub
  (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``), Slack (``xoxb-`` and the
  other ``xox?-``), Google (``AIza`` + 35), Stripe (``sk_live_``, ``rk_live_``, and ``_test_``),
  JWTs (base64url JSON from ``eyJ``, with all its dot-separated parts), PEM private key blocks
  (the whole body, to the ``-----END`` line or, when cut off, to the end of the text) and a DER
  key body without its header (``MII`` and 40 or more base64 characters, and the lines after).
- URLs and DSNs: ``scheme://user:***@host`` (the password may hold ``@`` and ``/``; it runs to the
  last ``@`` of the URL); ``https://***@host`` for a user alone in an http(s) or ws(s) URL, and in
  any scheme when it looks like a token (16 or more characters, letters and digits); a password
  after a line break (``postgresql://app:`` at the end of a line, ``s3cret@db`` on the next);
  ``user:***@host`` without a scheme.
- Secret-looking pairs, whatever the prefix, case and quoting: ``password``, ``passwd``,
  ``passphrase``, ``pass``, ``pwd``, ``pw``, ``secret``, ``token``, ``credentials``, ``auth``,
  ``authorization``, ``signature``, ``sig``, ``cookie``, ``set-cookie``, ``session``, session ids
  (``JSESSIONID``), and keys qualified as secret (``api_key``, ``x-api-key``, ``secret_key``,
  ``signing-key``, ``encryption_key``, ``access_key_id``, ``private_key``, ``client_key``, ...),
  with ``=`` or ``:`` (``DB_PASSWORD=***``, ``"api_key": ***``, ``{'pw': ***}``). Prefixes count
  when they end in ``_``, ``-``, ``.`` or a camelCase hump (``db_pass``, ``dbPass``); short words
  must not be the tail of a longer one (``bypass``, ``compass``), and a key ends at its separator
  (``passed: 3``, ``token_count: 2`` are no keys). A command-line flag takes the next argument
  too (``--password ***``).
- Credentials after an authorization scheme (``Bearer ***``, ``Basic ***``, ``ApiKey ***``), and
  all of the above when percent-encoded (once or twice).
- Observed values (``Redactor.value``): every string as above; under a secret-looking key the
  value, whatever its type (``{"password": ***}``; but ``{"pass": 3}`` is a count); in a list,
  the item after a secret-looking flag or name (``["--password", "***"]``,
  ``["requirepass", "***"]``).

How far a value runs:

- A quoted value to its closing quote, backslash escapes included, and quotes escaped at any
  depth (``{\\"password\\": \\"...\\"}``); a quote inside it that is not followed by a delimiter
  (``"pa"ssTAIL"``) does not end it; an unclosed one runs to the line's end.
- ``Cookie:``, ``Set-Cookie:`` and ``Authorization:`` values run to the end of the line.
- Any other unquoted value runs on over spaces (``password: hunter2 spaced`` masks both words) to
  the end of the line, a ``,`` or ``;`` before a space, the next ``key=``/``key: `` pair, a
  query string's next ``&key=``, a ``--flag``, or healthkit's own suffixes (``(error id ...)``,
  ``... (cut, ...)``).
- Masking is idempotent: text already masked is not masked further.
- It takes time linear in the text's length, about half a microsecond a character.

Left alone on purpose: prose (``password is hunter2``: no separator, and too many innocent
sentences have that shape); plural keys, which count things (``tokens: 3``, ``passwords: 2``);
ports after a host-like key (``auth:8080``, ``//session:6379``); a bare ``key=`` (cache keys);
one-letter flags (``-p`` is a port to psql and redis-cli, a password to mysql).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from ._text import MAX_OUTPUT, clip

__all__ = ["MASK_WINDOW", "Redactor"]

#: Characters of a text that are masked and may be shown; the rest is cut unread.
MASK_WINDOW = 65536

_MASK = "***"

# Every pattern here is precompiled, and none can backtrack catastrophically: no nested
# quantifiers over overlapping characters, and each repetition that may run on before it fails
# is bounded or starts at a rare literal. tests/test_redaction.py times 100 KB of near misses.

# PEM private key blocks: the body to the END line, or to the end of the text when cut off.
# Not again after '***', so masking twice changes nothing.
_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)(?!\*\*\*)[\s\S]*?"
    r"(-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
# Token shapes, masked whole.
_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:"
    r"A(?:KI|SI)A[A-Z0-9]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|xox[abeoprs]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|AIza[A-Za-z0-9_\-]{35,}"  # Google API keys
    r"|[rs]k_(?:live|test)_[A-Za-z0-9]{10,}"  # Stripe secret and restricted keys
    r"|eyJ[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*)*"  # JWT (JWS, JWE): base64url JSON, dot parts
    r"|MII[A-Za-z0-9+/]{40,}={0,2}(?:(?:\s|\\[rn])+[A-Za-z0-9+/]{16,}={0,2})*"  # DER key body
    r")"
)

# URLs: a scheme, then its authority is read in Python (_urls), in linear time.
_SCHEME_END = re.compile(r"://")
_SCHEME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+.-")
_RUN = re.compile(r"\S*")
_NEXT_LINE = re.compile(r"[ \t]*\r?\n[ \t]*")
# Schemes in which a user without a password is a token (https://TOKEN@github.com/...).
# (A scheme glued to the text before it, as in "xxxhttps://", still ends in its name.)
_TOKEN_USER_SCHEMES = ("http", "https", "ws", "wss", "ftp", "ftps")
_GITHUB_BASIC = "x-oauth-basic"  # https://TOKEN:x-oauth-basic@github.com
_TOKEN_LIKE = re.compile(r"(?=[^\s:@]*[A-Za-z])(?=[^\s:@]*[0-9])[^\s:@]{16,}")

# user:password@host without a scheme (not right after a URL's '//', nor an address like mailto:).
_BARE_PASSWORD = re.compile(
    r"(?<![\w/:@.%\-])(?!(?:mailto|sips?|tel|xmpp):)([\w.\-]{1,64}):([^\s/:]{1,256})@(?=[\w\-\[])"
)
# Authorization schemes followed by a credential: Bearer abc.def -> Bearer ***. After the
# ordinary words "basic" and "token", only what looks like a credential: with a digit, '+', '/'
# or '=' in it, 8 characters in both cases, or 16 characters ("token expired" stays).
_SCHEME_CREDENTIAL = re.compile(
    r"(?i)\b(?:(bearer|apikey|api-key|digest|negotiate)\s+(?!\*\*\*)\S+"
    r"|(basic|token)\s+(?!\*\*\*)(?:(?=\S*[0-9+/=])\S+|(?-i:(?=\S*[A-Z])(?=\S*[a-z]))\S{8,}|\S{16,}))"
)

# Secret-looking key names. _ANY_PREFIX: any prefix at all (PGPASSWORD, oauth, JSESSIONID);
# _WORD_PREFIX: only at the start of a key or after '_', '-', '.', or a camelCase hump, so that
# bypass, compass, possession are not keys.
_ANY_PREFIX = (
    r"pass(?:word|wd|phrase)|requirepass|(?:secret|api|private)[_\-. ]?key(?:[_\-. ]?id)?|secret"
    r"|token|credentials?|authori[sz]ation|auth|(?:set-?)?cookie|sess(?:ion)?[_\-]?id|signature"
)
_WORD_PREFIX = (
    r"(?:signing|sign|encryption|access|priv|master|client|account|app|hmac|shared|auth|session"
    r"|license|subscription|consumer)[_\-. ]?key(?:[_\-. ]?id)?|pass|pwd|pw|sig|session"
)
# Words that name a secret only in a key, and are ordinary alone in a list (["pass", "warn"]).
_SHORT = frozenset({"pass", "pwd", "pw", "sig", "session", "auth"})
# Values that run to the end of the line (a cookie header holds '; ' between its cookies).
_LINE_KEYS = re.compile(r"(?i)(?:cookie|authori[sz]ation)\Z")
_PASSWORDS = re.compile(r"(?i)pass|pw")

# A key candidate: the word, then '=' or ':' (after a closing quote, maybe escaped), or spaces
# or a list's ', ' (a --flag and its argument).
_KEY = re.compile(
    # (the first letters of the words first: twice as fast over text without any)
    rf"(?i)(?=[acehlmprst])(?:(?P<any>{_ANY_PREFIX})|(?P<word>{_WORD_PREFIX}))"
    rf"(?=(?:\\*[\"'])?[ \t]*[=:]|[ \t]+\S|\\*[\"'][ \t]*,)"
)
_KEY_NAME = re.compile(rf"(?i)(?:(?P<any>{_ANY_PREFIX})|(?P<word>{_WORD_PREFIX}))\Z")
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_SEPARATOR = re.compile(r"(?:\\*[\"'])?[ \t]*([=:])[ \t]*(?:\r?\n[ \t]*)?")
_PORT = re.compile(r"\d{1,5}(?=[/\s),;]|\Z)")

# Already masked: masking twice changes nothing.
_MASKED = re.compile(r"\*\*\*(?=[\s.,;:)}\]\"'&]|\Z)")
# A quoted value: to the first closing quote followed by a delimiter (so an unescaped quote
# inside does not end it), else to the first closing quote, else (unclosed) to the line's end.
_DELIMITER = r"(?=[\s,;:}\])&\\]|\Z)"
_QUOTED = re.compile(
    rf'"(?:[^\\\r\n]|\\.){{0,128}}?"{_DELIMITER}'
    rf"|'(?:[^\\\r\n]|\\.){{0,128}}?'{_DELIMITER}"
    r'|"(?:[^"\\\r\n]|\\.)*"'
    r"|'(?:[^'\\\r\n]|\\.)*'"
    # Escaped quotes (JSON inside a string, {\"password\": \"...\"}, at any depth): to the
    # quote escaped as often as the opening one.
    rf"|(\\+)([\"'])[^\r\n]{{0,128}}?(?<!\\)\1\2{_DELIMITER}"
    r"|(\\+)([\"'])[^\r\n]{0,128}?(?<!\\)\3\4"
    r"|\\*[\"'][^\r\n]*"
)
_OPENING_QUOTE = re.compile(r"\\*[\"']")
# An unquoted value: over spaces, to the end of the line, ', ' or '; ', the next pair or --flag,
# or healthkit's own suffixes.
_OWN = r"\(error id |\.\.\. \(cut, "
_STOP = rf"(?:{_OWN}|[A-Za-z][\w.\-]{{0,63}}[\"']?(?:[ \t]*=|[ \t]*:[ \t])|-{{1,2}}[A-Za-z])"
_CHUNK = r"(?:[^\s,;&]|[,;](?!\s|\Z)|&(?![A-Za-z_][\w.\-]{0,63}=))+"
_UNQUOTED = re.compile(rf"(?!{_OWN}){_CHUNK}(?:[ \t]+(?!{_STOP}){_CHUNK})*")
_LINE = re.compile(rf"(?:(?!{_OWN})[^\r\n])*")
_ARGUMENT = re.compile(r"(?!-)\S+")
_SPACES = re.compile(r"[ \t]*")
_LIST_NEXT = re.compile(r"\\*[\"'][ \t]*,[ \t]*(?=\\*[\"'])")


class Redactor:
    """Masks credentials in text and in observed values; see the module docstring for what and
    how far. ``patterns`` are the application's own regular expressions: each match becomes
    ``***``, after the built-in masking."""

    __slots__ = ("_extra",)

    def __init__(self, patterns: Iterable[str | re.Pattern[str]] = ()) -> None:
        extra = []
        for pattern in patterns:
            if not isinstance(pattern, str | re.Pattern):
                msg = f"Health redact takes regular expressions (str or re.Pattern), got {pattern!r}"
                raise TypeError(msg)
            try:
                extra.append(re.compile(pattern) if isinstance(pattern, str) else pattern)
            except re.error as exc:
                msg = f"Health redact pattern {pattern!r} is not a valid regular expression: {exc}"
                raise ValueError(msg) from None
        self._extra = tuple(extra)

    def __call__(self, text: str) -> str:
        masked = current = self._mask(text)
        for _ in range(3):
            # A percent-encoded secret (a URL inside a URL, a logged query string, encoded
            # twice): if decoding reveals one, send the decoded text, masked.
            if "%" not in current:
                break
            decoded = unquote_plus(current)
            if decoded == current:
                break
            current = self._mask(decoded)
            if current != decoded:
                masked = current
        return masked

    def _mask(self, text: str) -> str:
        text = _PEM.sub(rf"\1{_MASK}\2", text)
        text = _SHAPES.sub(_MASK, text)
        text = _urls(text)
        text = _BARE_PASSWORD.sub(rf"\1:{_MASK}@", text)
        text = _pairs(text)
        text = _SCHEME_CREDENTIAL.sub(_keep_scheme, text)
        for pattern in self._extra:
            text = pattern.sub(_MASK, text)
        return text

    def clipped(self, text: str, limit: int = MAX_OUTPUT) -> str:
        """``text`` masked, then cut to ``limit`` characters (in that order, so that a cut never
        lands inside a secret). Only the first ``MASK_WINDOW`` characters are read: the rest
        would be cut anyway, and masking megabytes would hold the event loop."""
        if len(text) <= MASK_WINDOW:
            return clip(self(text), limit)
        masked = self(text[:MASK_WINDOW])
        return f"{masked[:limit]}... (cut, {len(text)} characters in all)"

    def value(self, value: Any) -> Any:
        """``value`` (a JSON value) with its secrets masked: every string as text is; under a
        secret-looking key (``{"password": ...}``) the value, whatever its type, becomes
        ``"***"`` (``None`` stays, and so do numbers under ``pass``, ``pw``, ``pwd``, ``sig``,
        ``session``, ``auth``: ``{"pass": 3, "fail": 0}`` counts); in a list, the item after a
        secret-looking flag or name (``["--password", "x"]``, ``["requirepass", "x"]``) too.
        Lists and tuples become lists."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            masked: dict[Any, Any] = {}
            for key, item in value.items():
                name = self(key) if isinstance(key, str) else key
                masked[name] = _MASK if _holds_secret(key, item) else self.value(item)
            return masked
        if isinstance(value, list | tuple):
            items = [self.value(item) for item in value]
            for index in range(len(items) - 1):
                follower = value[index + 1]
                if follower is None or (isinstance(follower, str) and follower.startswith("-")):
                    continue
                if _names_next(value[index]):
                    items[index + 1] = _MASK
            return items
        return value


def _keep_scheme(match: re.Match[str]) -> str:
    return f"{match.group(1) or match.group(2)} {_MASK}"


def _secret_name(name: str) -> str | None:
    """The secret word ``name`` ends in (``DB_PASSWORD`` -> ``PASSWORD``), or None."""
    name = name.strip().strip("\"'").rstrip("=:").strip()
    match = _KEY_NAME.search(name)
    if match is None or not _starts_a_word(name, match):
        return None
    return match.group()


def _holds_secret(key: object, item: object) -> bool:
    """Whether ``item`` under ``key`` in a mapping is masked whole: under a secret-looking key,
    unless it is None, or a number under a short word (``{"pass": 3, "fail": 0}`` counts)."""
    if not isinstance(key, str) or item is None:
        return False
    word = _secret_name(key)
    if word is None:
        return False
    return not (word.lower() in _SHORT and isinstance(item, int | float))


def _names_next(item: object) -> bool:
    """Whether a list item announces a secret as the next item: a flag (``--password``,
    ``-api-key``) or a name that is not an ordinary word alone (``password``, not ``pass``)."""
    if not isinstance(item, str):
        return False
    word = _secret_name(item)
    if word is None:
        return False
    return item.lstrip().startswith("-") or word.lower() not in _SHORT


def _starts_a_word(text: str, match: re.Match[str]) -> bool:
    """A word from _WORD_PREFIX must begin its key, or follow a separator or a camelCase hump."""
    if match.group("word") is None:
        return True
    start = match.start()
    if start == 0:
        return True
    before = text[start - 1]
    if not before.isalnum():
        return True
    return (before.islower() or before.isdigit()) and text[start].isupper()


def _urls(text: str) -> str:
    """Credentials in URLs: ``scheme://user:***@host``, ``https://***@host``."""
    out: list[str] = []
    pos = 0
    run_end = at = -1  # the whitespace-free run being read, and its last '@' (-1: none)
    for match in _SCHEME_END.finditer(text):
        start = match.end()
        if match.start() < pos:
            continue  # inside what was masked already
        scheme = match.start()
        while scheme > 0 and scheme > match.start() - 32 and text[scheme - 1] in _SCHEME_CHARS:
            scheme -= 1
        if scheme == match.start():
            continue
        if start >= run_end:
            run_end = _RUN.match(text, start).end()  # type: ignore[union-attr]
            at = text.rfind("@", start, run_end)
        if at < start:
            wrapped = _after_line_break(text, start, run_end)
            if wrapped is not None:
                out += [text[pos : wrapped[0]], _MASK]
                pos = wrapped[1]
            continue
        user, colon, password = text[start:at].partition(":")
        if "/" in user or "?" in user or "#" in user:
            continue  # that '@' is in the path or the query, not in the authority
        if colon and password == _GITHUB_BASIC:  # the token is the user
            out += [text[pos:start], _MASK]
            pos = start + len(user)
        elif colon:
            if password and password != _MASK:
                out += [text[pos : start + len(user) + 1], _MASK]
                pos = at
        elif user and user != _MASK and _token_user(text[scheme : match.start()], user):
            out += [text[pos:start], _MASK]
            pos = at
    out.append(text[pos:])
    return "".join(out)


def _token_user(scheme: str, user: str) -> bool:
    """Whether a user without a password is a token: in http(s) and ws(s) URLs always, in other
    schemes when it looks like one (``postgresql://app@db`` is a user, ``redis://0a1b...@`` not)."""
    return scheme.lower().endswith(_TOKEN_USER_SCHEMES) or _TOKEN_LIKE.fullmatch(user) is not None


def _after_line_break(text: str, start: int, run_end: int) -> tuple[int, int] | None:
    """A URL cut after its user's ':' at the end of a line (``postgresql://app:``), the password
    on the next line (``s3cret@db/app``): where the password starts and its '@' is, if so."""
    user = text[start:run_end]
    if not user.endswith(":") or any(c in user for c in "/?#@"):
        return None
    following = _NEXT_LINE.match(text, run_end)
    if following is None:
        return None
    password = following.end()
    at = text.rfind("@", password, _RUN.match(text, password).end())  # type: ignore[union-attr]
    return (password, at) if at > password else None


def _pairs(text: str) -> str:
    """Secret-looking ``key=value``, ``key: value``, ``"key": "value"`` and ``--key value``."""
    out: list[str] = []
    pos = 0
    for match in _KEY.finditer(text):
        if match.start() < pos or not _starts_a_word(text, match):
            continue
        key_start = match.start()
        while key_start > 0 and key_start > match.start() - 64 and text[key_start - 1] in _KEY_CHARS:
            key_start -= 1
        if text.endswith(("//", "@"), 0, key_start):
            continue  # a host name: http://auth:8080, user@session:6379
        span = _value(text, match, key_start)
        if span is not None:
            value_start, value_end = span
            out += [text[pos:value_start], _MASK]
            pos = value_end
    out.append(text[pos:])
    return "".join(out)


def _value(text: str, match: re.Match[str], key_start: int) -> tuple[int, int] | None:
    """Where the value of the secret-looking key ``match`` is, or None when it has none."""
    separator = _SEPARATOR.match(text, match.end())
    if separator is None:
        if text[key_start] != "-":
            return None  # "password authentication failed": a word, not a flag
        # --password hunter2, or a list in the text: ["--password", "hunter2"]
        gap = _LIST_NEXT.match(text, match.end()) or _SPACES.match(text, match.end())
        start = match.end() if gap is None else gap.end()
        if _MASKED.match(text, start):
            return None
        found = (_QUOTED if _OPENING_QUOTE.match(text, start) else _ARGUMENT).match(text, start)
        return None if found is None else found.span()
    start = separator.end()
    if start >= len(text) or _MASKED.match(text, start):
        return None
    if separator.group(1) == ":" and separator.end() == match.end() + 1:
        if text.startswith("//", start):
            return None  # a scheme: token://
        if _PORT.match(text, start) and not _PASSWORDS.match(match.group()):
            return None  # a port: auth:8080
    if _OPENING_QUOTE.match(text, start):
        found = _QUOTED.match(text, start)
    elif _LINE_KEYS.search(match.group()):
        found = _LINE.match(text, start)
    else:
        found = _UNQUOTED.match(text, start)
    if found is None or found.end() == start:
        return None
    return found.span()
