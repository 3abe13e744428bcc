"""Redaction: every output string passes through here before it is serialized."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

__all__ = ["Redactor"]

_MASK = "***"

# Credentials in a URL or DSN: scheme://user:password@host -> scheme://user:***@host. The
# password runs to the last '@' before the host, so '@' and '/' inside it are covered.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*):(\S+)@([^\s@/]+)")
# The same without a scheme: user:password@host
_BARE_PASSWORD = re.compile(r"(?<![\w/:@])([\w.\-]+):([^\s@/:]+)@([\w.\-\[\]]+)")
# Authorization schemes followed by a credential: Bearer abc.def -> Bearer ***
_TOKEN = re.compile(r"(?i)\b(bearer|basic|token|apikey|api-key|digest|negotiate)\s+\S+")
# Pairs with a secret-looking key, in any case and with any prefix (DB_PASSWORD, PGPASSWORD,
# aws_secret_access_key, x-api-key): key=value, key: value, "key": "value", 'key': 'value'.
_PAIR = re.compile(
    r"(?i)((?<![A-Za-z0-9])[\w\-]*?(?:password|passwd|pwd|pass|secret|token|api[_\-]?key|"
    r"access[_\-]?key|private[_\-]?key|credentials?|auth|authorization|signature|sig))"
    r"([\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s;,'\"]+)"
)


class Redactor:
    """Masks credentials in URLs and DSNs, secret-looking pairs and authorization credentials
    (also when percent-encoded), plus whatever the application's own patterns match."""

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
        masked = self._mask(text)
        if "%" in masked:
            # A percent-encoded secret (a URL inside a URL, a logged query string): if decoding
            # reveals one, send the decoded text, masked.
            decoded = unquote(masked)
            if decoded != masked:
                decoded_masked = self._mask(decoded)
                if decoded_masked != decoded:
                    return decoded_masked
        return masked

    def _mask(self, text: str) -> str:
        text = _URL_PASSWORD.sub(rf"\1:{_MASK}@\3", text)
        text = _BARE_PASSWORD.sub(rf"\1:{_MASK}@\3", text)
        text = _TOKEN.sub(rf"\1 {_MASK}", text)
        text = _PAIR.sub(rf"\1\2{_MASK}", text)
        for pattern in self._extra:
            text = pattern.sub(_MASK, text)
        return text

    def value(self, value: Any) -> Any:
        """``value`` (a JSON value) with every string in it redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {
                self(key) if isinstance(key, str) else key: self.value(item) for key, item in value.items()
            }
        return value
