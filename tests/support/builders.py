"""Payloads with sensible defaults, one per source, overridable field by field."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from vigie_common.signatures import sign
from vigie_ingest.sources.oceane import EXAMPLE as OCEANE_EXAMPLE

SECRET = "test-secret-0123456789abcdef"
OLD_SECRET = "old-secret-0123456789abcdef0"
TOKEN = "test-token-0123456789abcdef"
SECRETS = f"oceane={SECRET}|{OLD_SECRET};servicenow={SECRET};canonical={SECRET}"
TOKENS = f"servicenow={TOKEN};canonical={TOKEN}"


def unique(prefix: str) -> str:
    """A ticket number no other test uses (the broker is shared by the session)."""
    return f"{prefix}{uuid.uuid4().int % 10**10:010d}"


def oceane(numero: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The design.md ticket."""
    payload: dict[str, Any] = {**OCEANE_EXAMPLE, "numero": numero or unique("25")}
    payload.update(overrides)
    return payload


def servicenow(
    number: str | None = None, *, mod_count: int = 1, **overrides: Any
) -> dict[str, Any]:
    """A ServiceNow incident as the Table API shapes it (every value a string)."""
    payload: dict[str, Any] = {
        "sys_id": uuid.uuid4().hex,
        "number": number or unique("INC"),
        "state": "2",
        "impact": "2",
        "urgency": "2",
        "priority": "3",
        "short_description": "Softphones de Moirans ne s'enregistrent plus",
        "description": "Perte d'enregistrement SIP",
        "opened_at": "2025-06-16 14:55:40",
        "sys_updated_on": f"2025-06-16 15:{mod_count % 60:02d}:00",
        "sys_mod_count": str(mod_count),
        "company": {"display_value": "RTE", "value": "31bea3d53790200044e0bfc8bcbe5dec"},
        "assignment_group": "SAV Réseau N2",
        "u_site_a": "INL_MOIRA_EVPN_LA1",
        "u_commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
    }
    payload.update(overrides)
    return payload


def canonical(
    upstream_id: str | None = None, *, version: int = 1, **overrides: Any
) -> dict[str, Any]:
    """vigie's own shape."""
    payload: dict[str, Any] = {
        "source": "supervision",
        "upstream_id": upstream_id or unique("SUP"),
        "version": version,
        "opened_at": "2025-06-16T14:55:40+02:00",
        "state": "open",
        "customer": "RTE",
        "nature": "down",
        "commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
        "site_a": {"code": "INL_MOIRA_EVPN_LA1", "city": "MOIRANS"},
    }
    payload.update(overrides)
    return payload


def signed_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Content type and a valid ``X-Vigie-Signature`` for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "x-vigie-signature": sign(body, secret, timestamp=ts),
    }


def encode(payload: dict[str, Any]) -> bytes:
    """JSON bytes as an upstream would send them (UTF-8, accents kept)."""
    return json.dumps(payload, ensure_ascii=False).encode()
