"""What a template sees: the ticket, the verdict, the form, the GTR figures, in French terms.

Views are frozen and flat so that templates read ``ticket.site`` or ``end.stable_since``
rather than walking upstream shapes; labels are folded to one line here, once, so that no
template can print a site name that breaks a line. The catalogue checks the fields templates
declare against :data:`ROOTS`, so a typo fails at start-up, not in front of a customer.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType, NoneType, UnionType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from vigie_common.events.probes import EndVerdict, VerdictReached
from vigie_common.events.tickets import CanonicalTicket, Nature, Site, TicketState

from vigie_notifier.forms import CustomerInformation, clean_text
from vigie_notifier.headers import mail_subject, single_line, sms_header

__all__ = [
    "AMBIENT",
    "DEFAULT_ZONE",
    "ROOTS",
    "EndView",
    "HeadersView",
    "Intervention",
    "ObservationView",
    "SiteView",
    "TicketView",
    "VerdictView",
    "build_context",
    "known_field",
]

DEFAULT_ZONE: Final = "Europe/Paris"

STATES: Final = {
    TicketState.OPEN: "En cours",
    TicketState.RESTORED: "Rétabli",
    TicketState.IN_OBSERVATION: "En observation",
    TicketState.CLOSED: "Clos",
}
NATURES: Final = {
    Nature.DOWN: "Service interrompu",
    Nature.DEGRADED: "Service dégradé",
    Nature.BACKUP_ACTIVE: "Avec secours actif",
    Nature.NO_IMPACT: "Sans perturbation",
}
VERDICTS: Final = {
    "stable": "stable",
    "flapping": "instable (bagots)",
    "unreachable": "injoignable",
    "inconclusive": "indéterminé",
}
LAYERS: Final = {
    "reachability": "ping depuis le rebond",
    "access": "connexion SSH via le rebond",
    "evidence": "lecture du journal d'alarmes",
}


@dataclass(frozen=True)
class SiteView:
    """One end of the service: ``end`` is ``A`` or ``B``."""

    end: str
    code: str
    reference: str | None
    city: str | None


@dataclass(frozen=True)
class TicketView:
    """The ticket in the team's words; ``site``, ``city`` and ``reference`` are the headers'."""

    id: str
    number: str
    source: str
    customer: str | None
    nature: str | None
    state: str
    commitment: str | None
    product: str | None
    access_reference: str | None
    access_type: str | None
    reference: str | None
    site: str | None
    city: str | None
    site_a: SiteView | None
    site_b: SiteView | None
    sites: tuple[SiteView, ...]
    is_p2p: bool
    opened_at: datetime
    restored_at: datetime | None
    closed_at: datetime | None
    title: str | None
    notes: str | None
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class EndView:
    """One end as probed: its verdict, French label, failed layer and evidence lines."""

    end: str
    site: str
    hostname: str | None
    status: str
    label: str
    reason: str
    failed_layer: str | None
    stable_since: datetime | None
    flaps: int
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class ObservationView:
    """Where the observation window stands."""

    started: datetime
    closes_at: datetime
    final: bool
    next_probe_at: datetime | None


@dataclass(frozen=True)
class VerdictView:
    """The ticket's verdict: ``status`` is the prober's word, ``label`` the French one."""

    status: str
    label: str
    reason: str
    stable_since: datetime | None
    flaps: int
    since: datetime | None
    until: datetime
    ends: tuple[EndView, ...]
    observation: ObservationView | None


@dataclass(frozen=True)
class Intervention:
    """An intervention asked for (A0, A2), for its chase (A1, A3): when, by when, how often."""

    code: str
    requested_at: datetime
    due_at: datetime | None = None
    reminders: int = 0
    """Chases already sent before this one."""
    reference: str | None = None
    """The field team's own reference, when they gave one."""


@dataclass(frozen=True)
class HeadersView:
    """The team's SMS first line and mail subject, each one line."""

    sms: str
    mail_subject: str


ROOTS: Final[Mapping[str, object]] = MappingProxyType(
    {
        "ticket": TicketView,
        "verdict": VerdictView,
        "form": CustomerInformation,
        "gtr": Mapping,
        "intervention": Intervention,
        "operator": str,
        "zone": str,
        "headers": HeadersView,
    }
)
"""The context's top-level names and their types; every one is present (None when absent)."""

AMBIENT: Final = frozenset({"operator", "zone", "headers"})
"""Always given, so templates use them without declaring them."""


def _members(kind: object) -> Mapping[str, object] | None:
    """The fields of a view or model, None for a leaf (str, datetime…) or a mapping."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return typing.get_type_hints(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return {name: info.annotation for name, info in kind.model_fields.items()}
    return None


def _unwrap(kind: object) -> object:
    """``X | None`` as ``X``."""
    if isinstance(kind, UnionType) or typing.get_origin(kind) is typing.Union:
        rest = [arg for arg in typing.get_args(kind) if arg is not NoneType]
        return rest[0] if len(rest) == 1 else kind
    return kind


def known_field(path: str) -> bool:
    """Whether ``a.b.c`` names something the context has; past a leaf anything goes."""
    root, *rest = path.split(".")
    if root not in ROOTS:
        return False
    kind = ROOTS[root]
    for name in rest:
        members = _members(kind)
        if members is None:
            return True  # a mapping (gtr) or a leaf's own attributes
        if name not in members:
            return False
        kind = _unwrap(members[name])
    return True


def _label(value: object) -> str | None:
    """A one-line label, None when nothing is given."""
    return None if value is None else (single_line(value, missing="") or None)


def _site(end: str, site: Site | None) -> SiteView | None:
    if site is None:
        return None
    return SiteView(
        end=end,
        code=single_line(site.code),
        reference=_label(site.service_reference),
        city=_label(site.city),
    )


def _ticket(ticket: CanonicalTicket) -> TicketView:
    site_a, site_b = _site("A", ticket.site_a), _site("B", ticket.site_b)
    sites = tuple(site for site in (site_a, site_b) if site is not None)
    first = sites[0] if sites else None
    return TicketView(
        id=ticket.id,
        number=single_line(ticket.upstream_id),
        source=ticket.source,
        customer=_label(ticket.customer),
        nature=NATURES[ticket.nature] if ticket.nature else None,
        state=STATES[ticket.state],
        commitment=_label(ticket.commitment),
        product=_label(ticket.product),
        access_reference=_label(ticket.access_reference),
        access_type=_label(ticket.access_type),
        reference=next((s.reference for s in sites if s.reference), None)
        or _label(ticket.access_reference),
        site=first.code if first else None,
        city=next((s.city for s in sites if s.city), None),
        site_a=site_a,
        site_b=site_b,
        sites=sites,
        is_p2p=site_a is not None and site_b is not None,
        opened_at=ticket.opened_at,
        restored_at=ticket.restored_at,
        closed_at=ticket.closed_at,
        title=_label(ticket.title),
        notes=clean_text(ticket.notes) if ticket.notes else None,
        alerts=tuple(single_line(alert) for alert in ticket.alerts),
    )


def _end(end: EndVerdict) -> EndView:
    return EndView(
        end=end.end.upper(),
        site=single_line(end.site_code),
        hostname=_label(end.hostname),
        status=end.verdict.value,
        label=VERDICTS[end.verdict.value],
        reason=single_line(end.reason),
        failed_layer=LAYERS[end.failed_layer] if end.failed_layer else None,
        stable_since=end.stable_since,
        flaps=end.flaps,
        evidence=tuple(clean_text(line) for line in end.evidence),
    )


def _verdict(verdict: VerdictReached) -> VerdictView:
    window = verdict.observation
    return VerdictView(
        status=verdict.verdict.value,
        label=VERDICTS[verdict.verdict.value],
        reason=single_line(verdict.reason),
        stable_since=verdict.stable_since,
        flaps=verdict.flaps,
        since=verdict.since,
        until=verdict.until,
        ends=tuple(_end(end) for end in verdict.ends),
        observation=None
        if window is None
        else ObservationView(window.started, window.closes_at, window.final, window.next_probe_at),
    )


def _zone(ticket: CanonicalTicket, default: str) -> str:
    """The first site's valid IANA zone, else ``default`` (a junk upstream zone never blocks)."""
    ZoneInfo(default)  # a wrong default is a configuration error: raise it
    for site in (ticket.site_a, ticket.site_b):
        if site is not None and site.timezone:
            try:
                ZoneInfo(site.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return site.timezone
    return default


def build_context(
    ticket: CanonicalTicket,
    *,
    operator: str,
    verdict: VerdictReached | None = None,
    form: CustomerInformation | None = None,
    gtr: Mapping[str, object] | None = None,
    intervention: Intervention | None = None,
    default_zone: str = DEFAULT_ZONE,
) -> dict[str, object]:
    """The template context, every name of :data:`ROOTS` present (None when not given).

    Raises:
        ValueError: The verdict is about another ticket.
        zoneinfo.ZoneInfoNotFoundError: ``default_zone`` is not an IANA zone.
    """
    if verdict is not None and verdict.ticket_id != ticket.id:
        raise ValueError(f"verdict for ticket {verdict.ticket_id!r}, not {ticket.id!r}")
    view = _ticket(ticket)
    headers = HeadersView(
        sms=sms_header(operator=operator, ticket=view.number, site=view.site, city=view.city),
        mail_subject=mail_subject(
            operator=operator,
            ticket=view.number,
            reference=view.reference,
            site=view.site,
            city=view.city,
        ),
    )
    return {
        "ticket": view,
        "verdict": _verdict(verdict) if verdict is not None else None,
        "form": form,
        "gtr": MappingProxyType(dict(gtr)) if gtr is not None else None,
        "intervention": intervention,
        "operator": single_line(operator),
        "zone": _zone(ticket, default_zone),
        "headers": headers,
    }
