"""Distinct, signed oceane webhooks written to a file that wrk's Lua script loads at init.

Every request is a new ticket (``numero`` differs), so the system under test does real work
for each one instead of answering from its idempotency check. The signature is computed here
with ``hmac`` rather than with ``vigie_ingest.signatures`` so the benchmark stays independent
of the code it measures; the format is the contract: ``t=<unix>,v1=<hex HMAC-SHA256>`` over
``f"{t}.".encode() + body``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

from vigie_ingest.sources import oceane

FIRST_NUMERO = 25_000_000_000
"""Ticket numbers start here; request ``i`` carries ``FIRST_NUMERO + i``."""

PATH = "/v1/webhooks/oceane"
SOURCE = "oceane"


def oceane_ticket(i: int) -> dict[str, Any]:
    """The French telco ticket of design §1, with a ticket number unique to ``i``."""
    return {**oceane.EXAMPLE, "numero": str(FIRST_NUMERO + i)}


def sign(body: bytes, secret: str, *, timestamp: int) -> str:
    """The ``X-Vigie-Signature`` header value for ``body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def encode_body(ticket: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON on one line (JSON escapes tabs and newlines inside strings)."""
    return json.dumps(ticket, ensure_ascii=False, separators=(",", ":")).encode()


def write_requests_file(
    path: Path, count: int, secret: str, *, timestamp: int | None = None
) -> int:
    """Write ``count`` lines ``<signature>\\t<body>``; return the signing timestamp.

    Sign right before the load starts: the receiver only accepts timestamps inside a
    five-minute window.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    with path.open("wb") as out:
        for i in range(count):
            body = encode_body(oceane_ticket(i))
            out.write(sign(body, secret, timestamp=ts).encode() + b"\t" + body + b"\n")
    return ts
