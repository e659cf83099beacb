"""The sample Oceane ticket of the design brief, signed and sent to a running ingest."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx
from vigie_common.signatures import HEADER, sign

from vigie_devstack.services import HOST

OCEANE_SAMPLE: Final[dict[str, Any]] = {
    "numero": "2505057242",
    "date_creation": "30/05/2025 09:52",
    "initiateur": "Système externe SMILE SMILE",
    "raison_sociale": "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
    "nature_initiale": "Service dégradé",
    "dernier_etat": "En cours",
    "engagement": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
    "site_extremite_a": "INL_MOIRA_EVPN_LA1",
    "site_extremite_b": "INU_CONF5_EVPN_LA1",
    "identifiant_ressource_cedre": "CD0HG0FDC",
    "acces_ethernet": "0050VKF3",
    "type_acces": "Nominal",
    "type_produit": "RSS - Support DSL ETH",
    "alertes": ["Offre Service Client : Service Client Réseau"],
    "donnees_complementaires": "[BES2] INTER BOA 16/06 17h30",
    "ville": "MOIRANS",
}
"""The ticket of design.md §1, as the telco tool posts it (a copy: the launcher sends it as any
upstream would, without importing ingest)."""

SAMPLES: Final[dict[str, dict[str, Any]]] = {"oceane": OCEANE_SAMPLE}
"""Built-in sample per source."""

STATES: Final[dict[str, str]] = {
    "open": "En cours",
    "restored": "Rétabli",
    "in_observation": "En observation",
    "closed": "Clos",
}
"""``vigie sample --state``: the canonical state and the Oceane ``dernier_etat`` that says it (a
copy of ingest's labels, pinned by tests/devstack). ``open`` is the design brief's sample."""


class IngestUnreachable(RuntimeError):
    """Nothing answers on ingest's port."""


@dataclass(frozen=True, slots=True)
class SampleResult:
    """What ingest answered."""

    status: int
    reason: str
    body: Any
    ticket_id: str | None
    ticket_url: str | None


def verdict_url(ticket_id: str, prober_port: int) -> str:
    """Where the prober serves the ticket's latest verdict (behind the read token)."""
    return f"http://{HOST}:{prober_port}/v1/tickets/{ticket_id}/verdict"


def notifier_urls(ticket_id: str, notifier_port: int) -> tuple[str, str]:
    """Where the notifier serves the ticket's notifications and its GTR clock (read token)."""
    base = f"http://{HOST}:{notifier_port}/v1/tickets/{ticket_id}"
    return f"{base}/notifications", f"{base}/gtr"


def unique_numero() -> str:
    """A 10-digit ticket number that differs on every call (milliseconds since the epoch)."""
    return f"{time.time_ns() // 1_000_000 % 10**10:010d}"


def sample_ticket(source: str, numero: str | None = None, state: str = "open") -> dict[str, Any]:
    """The sample payload of ``source`` with its own ticket number, in ``state``.

    ``state`` is a key of :data:`STATES`: the same ``numero`` with another state is a later
    version of that ticket (``closed`` after ``open``: its closure).

    Raises:
        KeyError: An unknown state.
    """
    ticket = copy.deepcopy(SAMPLES[source])
    ticket["numero"] = numero or unique_numero()
    ticket["dernier_etat"] = STATES[state]
    return ticket


def send_sample(
    ticket: dict[str, Any], *, source: str, secret: str, port: int, timeout: float = 10.0
) -> SampleResult:
    """POST ``ticket`` to ``/v1/webhooks/<source>`` on loopback, signed with ``secret``.

    Raises:
        IngestUnreachable: When the connection fails or times out.
    """
    body = json.dumps(ticket, ensure_ascii=False).encode()
    base = f"http://{HOST}:{port}"
    headers = {
        "Content-Type": "application/json",
        HEADER: sign(body, secret, timestamp=int(time.time())),
    }
    try:
        with httpx.Client(base_url=base, timeout=timeout, trust_env=False) as client:
            response = client.post(f"/v1/webhooks/{source}", content=body, headers=headers)
    except httpx.TransportError as exc:
        raise IngestUnreachable(f"ingest is not answering on {HOST}:{port}") from exc
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    found = answer.get("ticket_id") if isinstance(answer, dict) else None
    ticket_id = str(found) if found else None
    return SampleResult(
        status=response.status_code,
        reason=response.reason_phrase,
        body=answer,
        ticket_id=ticket_id,
        ticket_url=f"{base}/v1/tickets/{ticket_id}" if ticket_id else None,
    )
