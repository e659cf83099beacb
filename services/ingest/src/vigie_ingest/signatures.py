"""Webhook authentication: HMAC-SHA256 ``X-Vigie-Signature`` headers and bearer tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Final

from vigie_ingest.errors import NotAuthenticated

__all__ = ["HEADER", "sign", "verify", "verify_bearer"]

HEADER: Final = "X-Vigie-Signature"
"""Carries ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]``."""

_TIMESTAMP: Final = re.compile(r"\d{1,12}")
_HEX_MAC: Final = re.compile(r"[0-9a-fA-F]{64}")
_BEARER: Final = re.compile(r"bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)


def _mac(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, *, timestamp: int) -> str:
    """Sign a webhook body, as a sender does.

    Args:
        body: The exact bytes of the request body.
        secret: The source's shared secret.
        timestamp: Unix seconds of sending; the receiver checks it against its clock.

    Returns:
        The value of the ``X-Vigie-Signature`` header, ``t=<timestamp>,v1=<hex>``.
    """
    return f"t={timestamp},v1={_mac(body, secret, timestamp)}"


def _parse(header: str) -> tuple[int, list[str]]:
    """Split a header into its timestamp and its ``v1`` MACs (other schemes are ignored)."""
    timestamps: list[str] = []
    macs: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise NotAuthenticated("malformed signature header: every entry must be key=value")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            if not _HEX_MAC.fullmatch(value):
                raise NotAuthenticated("malformed signature header: v1 must be 64 hex digits")
            macs.append(value.lower())
    if len(timestamps) != 1:
        raise NotAuthenticated("malformed signature header: expected exactly one t=<unix seconds>")
    if not _TIMESTAMP.fullmatch(timestamps[0]):
        raise NotAuthenticated("malformed signature header: t must be unix seconds")
    if not macs:
        raise NotAuthenticated("malformed signature header: no v1=<hex> signature")
    return int(timestamps[0]), macs


def verify(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_s: int = 300,
) -> None:
    """Check an ``X-Vigie-Signature`` header against the body and the source's secrets.

    Any ``v1`` entry matching any active secret is enough, so senders and vigie can rotate
    secrets independently. Unknown schemes (``v0=``, ``v2=``...) are ignored.

    Args:
        body: The exact bytes of the request body.
        header: The header value, or ``None`` when absent.
        secrets: The source's active secrets (several during a rotation).
        now: The receiver's clock, unix seconds.
        tolerance_s: How far ``t`` may be from ``now``, either way, against replays.

    Raises:
        NotAuthenticated: When the header is missing or malformed, its timestamp is outside the
            tolerance, or no signature matches a secret. The detail never quotes a secret.
    """
    if header is None or not header.strip():
        raise NotAuthenticated(f"missing {HEADER} header")
    timestamp, macs = _parse(header)
    if not abs(now - timestamp) <= tolerance_s:  # written so that a NaN clock fails too
        raise NotAuthenticated(f"timestamp outside the {tolerance_s} s tolerance (replay?)")
    expected = [_mac(body, secret, timestamp).encode() for secret in secrets]
    # Every pair is compared (no short circuit) so timing says nothing about which matched.
    matches = [hmac.compare_digest(e, m.encode()) for e in expected for m in macs]
    if not any(matches):
        raise NotAuthenticated("no signature matches")


def verify_bearer(authorization: str | None, tokens: Sequence[str]) -> None:
    """Check an ``Authorization: Bearer <token>`` header against the source's tokens.

    Args:
        authorization: The header value, or ``None`` when absent.
        tokens: The source's active tokens.

    Raises:
        NotAuthenticated: When the header is missing, not a bearer token, or matches no token.
            The detail never quotes a token.
    """
    if authorization is None or not authorization.strip():
        raise NotAuthenticated("missing Authorization header")
    found = _BEARER.fullmatch(authorization.strip())
    if found is None:
        raise NotAuthenticated("malformed Authorization header: expected 'Bearer <token>'")
    given = found.group(1).encode()
    matches = [hmac.compare_digest(token.encode(), given) for token in tokens]
    if not any(matches):
        raise NotAuthenticated("bearer token not recognised")
