"""Who may see details: authorizers, called with the Starlette request."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ._endpoint import Authorizer

__all__ = ["bearer_token"]


def bearer_token(*tokens: str) -> Authorizer:
    """An authorizer that accepts ``Authorization: Bearer <token>`` for any of ``tokens``.

    Tokens are compared in constant time, each of them every time, so neither the token nor
    which one matched shows in the timing. Several tokens allow a rotation without downtime.
    """
    if not tokens or not all(
        isinstance(token, str)
        and len(token) >= 16
        and token.isascii()
        and token.isprintable()
        and " " not in token
        for token in tokens
    ):
        msg = (
            "bearer_token takes one or more tokens, each a string of at least 16 characters: "
            "printable ASCII without spaces (what an Authorization header can carry)"
        )
        raise ValueError(msg)
    expected = [token.encode() for token in tokens]

    def authorize(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        offered = given.strip().encode() if scheme.lower() == "bearer" else b""
        matched = False
        for token in expected:
            matched |= hmac.compare_digest(offered, token)
        return matched

    return authorize
