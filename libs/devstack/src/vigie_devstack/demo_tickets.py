"""The two tickets ``vigie demo`` sends: the seed's P2P ticket restored, and its flapping one.

Both are Oceane bodies built from the design brief's sample (:mod:`vigie_devstack.sample`), so
that they go through ingest as any upstream ticket does. What each must lead to is the rules'
answer to its verdict (the notifier's ``rules.yaml``): a P2P link observed stable until its
window closes tells the customer (CLT5); a flapping router tells the support team (INT A2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from vigie_devstack.sample import sample_ticket, unique_numero
from vigie_devstack.timeline import Expectation

__all__ = [
    "FLAPPING",
    "FLAPPING_SITE",
    "P2P",
    "DemoTicket",
    "demo_tickets",
]

FLAPPING_SITE: Final = {
    "site_extremite_a": "INL_VOIRO_EVPN_LA1",
    "site_extremite_b": None,
    "identifiant_ressource_cedre": "CD0HG0VRN",
    "ville": "VOIRON",
    "nature_initiale": "Service interrompu",
}
"""The seed's second ticket: one site, whose Cisco router (RTE-INL_VOIRO_EVPN_LA1-CD0HG0VRN in
the lab's seed inventory) keeps flapping; a copy, pinned to the lab's seed by the tests."""

P2P: Final = Expectation(
    label="P2P",
    verdict="stable",
    template="CLT5",
    audience="customer",
    final_verdict=True,
    gtr_outcome=True,
)
"""Restored, so the prober observes it until its window closes; then CLT5 to the customer.
Its restoration also stops the GTR clock: an outcome, met or breached."""
FLAPPING: Final = Expectation(label="flap", verdict="flapping", template="A2", audience="support")
"""Open and flapping: INT A2 to the support team; its clock keeps running (no restoration)."""


@dataclass(frozen=True, slots=True)
class DemoTicket:
    """One body to send, and what it must lead to."""

    expect: Expectation
    body: dict[str, Any]

    @property
    def numero(self) -> str:
        """The ticket's number, as upstream gave it."""
        return str(self.body["numero"])

    @property
    def state(self) -> str:
        """The Oceane ``dernier_etat`` sent."""
        return str(self.body["dernier_etat"])


def demo_tickets(numero: str | None = None) -> list[DemoTicket]:
    """The P2P ticket restored (``numero``, new by default) and the flapping one (the next)."""
    first = numero or unique_numero()
    second = f"{(int(first) + 1) % 10**10:010d}" if first.isdigit() else f"{first}-flap"
    flapping = sample_ticket("oceane", second, "open")
    flapping.update(FLAPPING_SITE)
    return [
        DemoTicket(P2P, sample_ticket("oceane", first, "restored")),
        DemoTicket(FLAPPING, flapping),
    ]
