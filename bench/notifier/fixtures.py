"""What the notifier bench feeds in: N tickets, their final stable verdicts, one customer.

Every ticket is the real one of design §1 (ticket 2505057242: RTE, two ends at MOIRANS,
``GTR S2 240 mn Lundi au Samedi 8h à 18h``) under a number of its own, already
``in_observation`` and restored, so its GTR clock stops as it starts. Its verdict is the
prober's final stable observation verdict with both ends' alarm-log evidence: the
``stable-after-observation`` rule sends CLT5 to the customer. The customer's contacts are two
people on the mail channel only, so each verdict makes exactly one mail (two RCPT TO).

The floor renders the same mails here, with the notifier's own functions and settings
(:func:`rendered_mails`), so the bare loop sends what the notifier sends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Final
from zoneinfo import ZoneInfo

from vigie_common.events.envelope import CloudEvent, new_event
from vigie_common.events.probes import (
    VERDICT_REACHED,
    EndVerdict,
    ObservationWindow,
    Purpose,
    Verdict,
    VerdictReached,
)
from vigie_common.events.tickets import (
    TICKET_RECEIVED,
    CanonicalTicket,
    Nature,
    Site,
    TicketEvent,
    TicketState,
)
from vigie_notifier.context import build_context
from vigie_notifier.delivery import Mailbox
from vigie_notifier.mailer import build_message, message_id_for
from vigie_notifier.rendering import Renderer
from vigie_notifier.service import notification_key

PARIS: Final = ZoneInfo("Europe/Paris")
OPERATOR: Final = "ORANGE"
MESSAGE_DOMAIN: Final = "bench.vigie.invalid"
FROM_ADDRESS: Final = "sav@bench.vigie.invalid"
FROM_NAME: Final = "Service Client Réseau"  # the notifier's default VIGIE_NOTIFIER_SMTP__FROM_NAME
ZONE: Final = "Europe/Paris"
TEMPLATE: Final = "CLT5"
FIRST_NUMBER: Final = 2_600_000_000
CUSTOMER: Final = "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE"
RECIPIENTS: Final = (
    Mailbox("DUPONT Jean", "jean.dupont@example.com"),
    Mailbox("MARTIN Léa", "lea.martin@example.com"),
)
CONTACTS_YAML: Final = f"""\
# The notifier bench's only customer: two people, mail only (one mail per verdict).
customers:
  - name: {CUSTOMER}
    recipients: >-
      DUPONT Jean, , jean.dupont@example.com;
      MARTIN Léa, , lea.martin@example.com
    channel: mail
"""
SITES: Final = {"a": "INL_MOIRA_EVPN_LA1", "b": "INU_CONF5_EVPN_LA1"}
HOSTS: Final = {"a": "RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC", "b": "RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7"}
REFERENCE: Final = "CD0HG0FDC"
STABLE_SINCE: Final = datetime(2025, 6, 16, 16, 10, 44, tzinfo=PARIS)
ALARM_LOG: Final = (
    "9      Remote defect indication (RDI)\n"
    "2025-06-16  4.2.24.14   defRDICCM     Cleared\n"
    "16:10:44.00                           Resolved",
    "11     Loss of continuity (LOC)\n"
    "2025-06-16  4.1.24.14   defRemoteCCM  Cleared\n"
    "16:10:37.00                           Resolved",
)


def ticket(index: int) -> CanonicalTicket:
    """The ``index``-th ticket: design §1's, numbered ``FIRST_NUMBER + index``, restored."""
    number = str(FIRST_NUMBER + index)
    return CanonicalTicket(
        id=f"tkt-bench-{number}",
        source="oceane",
        upstream_id=number,
        version=1,
        opened_at=datetime(2025, 5, 30, 9, 52, tzinfo=PARIS),
        restored_at=datetime(2025, 5, 30, 12, 40, tzinfo=PARIS),
        state=TicketState.IN_OBSERVATION,
        customer=CUSTOMER,
        nature=Nature.DEGRADED,
        commitment="GTR S2 240 mn Lundi au Samedi 8h à 18h",
        site_a=Site(code=SITES["a"], service_reference=REFERENCE, city="MOIRANS"),
        site_b=Site(code=SITES["b"], service_reference=REFERENCE, city="MOIRANS"),
        access_reference="0050VKF3",
        access_type="Nominal",
        product="RSS - Support DSL ETH",
        notes="[BES2] INTER BOA 16/06 17h30",
        alerts=("Offre Service Client : Service Client Réseau",),
    )


def _end(end: str) -> EndVerdict:
    return EndVerdict(
        end=end,
        site_code=SITES[end],
        hostname=HOSTS[end],
        verdict=Verdict.STABLE,
        reason="stable since 2025-06-16 16:10",
        stable_since=STABLE_SINCE,
        evidence=ALARM_LOG,
    )


def verdict(index: int) -> VerdictReached:
    """The final stable observation verdict of the ``index``-th ticket (CLT5 to the customer)."""
    number = str(FIRST_NUMBER + index)
    return VerdictReached(
        ticket_id=f"tkt-bench-{number}",
        source="oceane",
        upstream_id=number,
        ticket_version=1,
        probe_id=f"probe-bench-{number}",
        purpose=Purpose.OBSERVATION,
        round=3,
        verdict=Verdict.STABLE,
        reason="stable since 2025-06-16 16:10",
        stable_since=STABLE_SINCE,
        since=datetime(2025, 6, 16, 16, 0, tzinfo=PARIS),
        until=datetime(2025, 6, 19, 10, 15, tzinfo=PARIS),
        ends=(_end("a"), _end("b")),
        observation=ObservationWindow(
            started=datetime(2025, 6, 16, 16, 30, tzinfo=PARIS),
            closes_at=datetime(2025, 6, 19, 10, 15, tzinfo=PARIS),
            interval_s=3600,
            final=True,
        ),
    )


def ticket_event(index: int) -> CloudEvent[TicketEvent]:
    """Ingest's event carrying the ``index``-th ticket (its id is derived: a rerun repeats it)."""
    value = ticket(index)
    return new_event(
        id=f"bench-ticket-{value.upstream_id}",
        type=TICKET_RECEIVED,
        source="/vigie/ingest",
        subject=value.id,
        data=TicketEvent(ticket=value),
        time=datetime.now(UTC),
    )


def verdict_id(index: int) -> str:
    """The CloudEvent id of the ``index``-th verdict (the cause of its mail's idempotency key)."""
    return f"bench-verdict-{FIRST_NUMBER + index}"


def verdict_event(index: int, value: VerdictReached, at: datetime) -> CloudEvent[VerdictReached]:
    """The prober's event carrying ``value``, stamped ``at`` (the moment it is published)."""
    return new_event(
        id=verdict_id(index),
        type=VERDICT_REACHED,
        source="/vigie/prober",
        subject=value.ticket_id,
        data=value,
        time=at,
    )


def message_id(index: int) -> str:
    """The Message-ID the notifier gives the ``index``-th mail (it derives from its key)."""
    addresses = ",".join(sorted(r.email for r in RECIPIENTS))
    key = notification_key(ticket(index).id, TEMPLATE, verdict_id(index), "mail", addresses)
    return message_id_for(key, MESSAGE_DOMAIN)


def thread_id(ticket_id: str) -> str:
    """The ticket's thread (``In-Reply-To``), as the notifier stores it on its ticket row."""
    digest = hashlib.sha256(ticket_id.encode()).hexdigest()[:32]
    return message_id_for(f"ticket-{digest}", MESSAGE_DOMAIN)


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """One CLT5 as the sender takes it from its row: what was rendered, and its ids."""

    index: int
    message_id: str
    thread_id: str
    subject: str
    text: str
    html: str | None


def render_mail(renderer: Renderer, index: int) -> RenderedMail:
    """The ``index``-th CLT5, rendered as the notifier's decision step renders it."""
    value = ticket(index)
    context = build_context(
        value, operator=OPERATOR, verdict=verdict(index), gtr=None, default_zone=ZONE
    )
    rendered = renderer.render(TEMPLATE, context)
    return RenderedMail(
        index=index,
        message_id=message_id(index),
        thread_id=thread_id(value.id),
        subject=rendered.subject or "",
        text=rendered.text or "",
        html=rendered.html,
    )


def build_mail(mail: RenderedMail, at: datetime) -> EmailMessage:
    """The message the sender builds from a rendered row (``mailer.build_message``)."""
    return build_message(
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        sender=Mailbox(FROM_NAME, FROM_ADDRESS),
        recipients=list(RECIPIENTS),
        message_id=mail.message_id,
        thread_id=mail.thread_id,
        date=at,
    )
