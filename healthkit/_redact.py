"""Redaction: every output string passes through here before it is serialized."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Redactor"]

_MASK = "***"

# Credentials in a URL or DSN: scheme://user:password@host -> scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*):([^/\s@]*)@")
# Authorization schemes followed by a token: Bearer abc.def -> Bearer ***
_TOKEN = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]+=*")
# key=value and key: value pairs with a secret-looking key (query strings, libpq DSNs, configs)
_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|pass|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|"
    r"api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|auth|authorization|signature|sig)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&;,'\"]+)"
)


class Redactor:
    """Masks credentials in URLs and DSNs, secret-looking ``key=value`` pairs and bearer tokens,
    plus whatever the application's own patterns match."""

    __slots__ = ("_extra",)

    def __init__(self, patterns: Iterable[str | re.Pattern[str]] = ()) -> None:
        extra = []
        for pattern in patterns:
            try:
                extra.append(re.compile(pattern) if isinstance(pattern, str) else pattern)
            except re.error as exc:
                msg = f"Health redact pattern {pattern!r} is not a valid regular expression: {exc}"
                raise ValueError(msg) from None
            if not isinstance(extra[-1], re.Pattern):
                msg = f"Health redact takes regular expressions (str or re.Pattern), got {pattern!r}"
                raise TypeError(msg)
        self._extra = tuple(extra)

    def __call__(self, text: str) -> str:
        text = _URL_PASSWORD.sub(rf"\1:{_MASK}@", text)
        text = _TOKEN.sub(rf"\1 {_MASK}", text)
        text = _PAIR.sub(rf"\1\2{_MASK}", text)
        for pattern in self._extra:
            text = pattern.sub(_MASK, text)
        return text
