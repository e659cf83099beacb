"""Webhook authentication: HMAC-SHA256 ``X-Vigie-Signature`` headers and bearer tokens.

One definition for every side: upstream senders (and ``vigie sample``) call :func:`sign`,
ingest calls :func:`verify` or :func:`verify_bearer`. A refusal is an exception named for the
condition; none carries an HTTP status (ingest maps them all to 401) and none quotes a secret.

Tree::

    AuthenticationFailed        reason, kind
    ├── SignatureError          kind = "signature"
    │   ├── SignatureMissing    no X-Vigie-Signature header
    │   ├── SignatureMalformed  problem: what is wrong with the header
    │   ├── SignatureExpired    timestamp, now, tolerance_s: outside the replay window
    │   └── SignatureMismatch   signatures, secrets: how many were compared, none matched
    └── BearerError             kind = "bearer"
        ├── BearerMissing       no Authorization header
        ├── BearerMalformed     not ``Bearer <token>``
        └── BearerMismatch      tokens: how many were compared, none matched
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import ClassVar, Final, Literal

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "HEADER",
    "AuthenticationFailed",
    "BearerError",
    "BearerMalformed",
    "BearerMismatch",
    "BearerMissing",
    "SignatureError",
    "SignatureExpired",
    "SignatureMalformed",
    "SignatureMismatch",
    "SignatureMissing",
    "bearer_token",
    "sign",
    "verify",
    "verify_bearer",
]

HEADER: Final = "X-Vigie-Signature"
"""Carries ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]``."""
DEFAULT_TOLERANCE_S: Final = 300
"""How far a signature's timestamp may be from the receiver's clock, either way."""

_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
_HEX_MAC: Final = re.compile(r"[0-9a-fA-F]{64}")
_BEARER: Final = re.compile(r"bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)


class AuthenticationFailed(Exception):
    """A request not proven to come from its source; ``reason`` says why, quoting no secret."""

    kind: ClassVar[Literal["signature", "bearer"]]

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(AuthenticationFailed):
    """The ``X-Vigie-Signature`` header is missing, malformed, stale or wrong."""

    kind = "signature"


class SignatureMissing(SignatureError):
    """The request carries no signature header."""

    def __init__(self) -> None:
        super().__init__(f"missing {HEADER} header")


class SignatureMalformed(SignatureError):
    """The header is not ``t=<unix seconds>,v1=<hex>``; ``problem`` says what is wrong."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed signature header: {problem}")
        self.problem = problem


class SignatureExpired(SignatureError):
    """The signed timestamp is outside the tolerance: a replay, or a clock far off."""

    def __init__(self, *, timestamp: int, now: float, tolerance_s: int) -> None:
        super().__init__(f"timestamp outside the {tolerance_s} s tolerance (replay?)")
        self.timestamp = timestamp
        self.now = now
        self.tolerance_s = tolerance_s


class SignatureMismatch(SignatureError):
    """No ``v1`` signature of the header matches any active secret (or none is configured)."""

    def __init__(self, signatures: int, secrets: int) -> None:
        super().__init__("no signature matches")
        self.signatures = signatures
        self.secrets = secrets


class BearerError(AuthenticationFailed):
    """The ``Authorization: Bearer`` header is missing, malformed or wrong."""

    kind = "bearer"


class BearerMissing(BearerError):
    """The request carries no ``Authorization`` header."""

    def __init__(self) -> None:
        super().__init__("missing Authorization header")


class BearerMalformed(BearerError):
    """The ``Authorization`` header is not ``Bearer <token>``."""

    def __init__(self) -> None:
        super().__init__("malformed Authorization header: expected 'Bearer <token>'")


class BearerMismatch(BearerError):
    """The token matches none of the source's ``tokens`` active tokens."""

    def __init__(self, *, tokens: int) -> None:
        super().__init__("bearer token not recognised")
        self.tokens = tokens


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
            raise SignatureMalformed("every entry must be key=value")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            if not _HEX_MAC.fullmatch(value):
                raise SignatureMalformed("v1 must be 64 hex digits")
            macs.append(value.lower())
    if len(timestamps) != 1:
        raise SignatureMalformed("expected exactly one t=<unix seconds>")
    if not _TIMESTAMP.fullmatch(timestamps[0]):
        raise SignatureMalformed("t must be unix seconds")
    if not macs:
        raise SignatureMalformed("no v1=<hex> signature")
    return int(timestamps[0]), macs


def verify(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
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
        SignatureMissing: When the header is absent or blank.
        SignatureMalformed: When the header is not ``t=<unix seconds>,v1=<64 hex>[,…]``.
        SignatureExpired: When ``t`` is more than ``tolerance_s`` away from ``now``.
        SignatureMismatch: When no signature matches an active secret.
    """
    if header is None or not header.strip():
        raise SignatureMissing
    timestamp, macs = _parse(header)
    if not abs(now - timestamp) <= tolerance_s:  # written so that a NaN clock fails too
        raise SignatureExpired(timestamp=timestamp, now=now, tolerance_s=tolerance_s)
    expected = [_mac(body, secret, timestamp).encode() for secret in secrets]
    # Every pair is compared (no short circuit) so timing says nothing about which matched.
    matches = [hmac.compare_digest(e, m.encode()) for e in expected for m in macs]
    if not any(matches):
        raise SignatureMismatch(signatures=len(macs), secrets=len(secrets))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, ``None`` when it is not one.

    The scheme is case-insensitive and surrounding blanks are ignored.
    """
    found = _BEARER.fullmatch((authorization or "").strip())
    return found.group(1) if found else None


def verify_bearer(authorization: str | None, tokens: Sequence[str]) -> None:
    """Check an ``Authorization: Bearer <token>`` header against the source's tokens.

    Args:
        authorization: The header value, or ``None`` when absent.
        tokens: The source's active tokens.

    Raises:
        BearerMissing: When the header is absent or blank.
        BearerMalformed: When it is not ``Bearer <token>``.
        BearerMismatch: When the token matches none of ``tokens``.
    """
    if authorization is None or not authorization.strip():
        raise BearerMissing
    given = bearer_token(authorization)
    if given is None:
        raise BearerMalformed
    matches = [hmac.compare_digest(token.encode(), given.encode()) for token in tokens]
    if not any(matches):
        raise BearerMismatch(tokens=len(tokens))
