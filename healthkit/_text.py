"""Text helpers every layer uses: durations as people read them, cutting, escaping."""

from __future__ import annotations

import re

__all__ = ["MAX_OUTPUT", "clip", "escape_controls", "seconds"]

#: Characters an output keeps; the rest is cut, saying how much there was.
MAX_OUTPUT = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def seconds(value: float) -> str:
    """0.5 -> '0.5s', 2.0 -> '2s', 0.123456 -> '0.123s', 0.0004 -> '0.0004s'."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    if text == "0":
        text = f"{value:.1g}"
    return f"{text}s"


def clip(text: str, limit: int = MAX_OUTPUT) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... (cut, {len(text)} characters in all)"


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def escape_controls(text: str) -> str:
    """``text`` with control characters and line separators escaped (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escape, text)
