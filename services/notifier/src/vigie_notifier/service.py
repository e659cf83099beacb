"""The notifier's logic over its tables: facts in, decisions and pending sends out.

Everything here runs in the caller's transaction — the consume loop's for a ticket or verdict
event, the watcher's for a warning or a chase — so a fact, its decisions, the rendered
notifications waiting to go and the events to publish commit together, or not at all. The
sender task delivers later, outside any transaction.

A notification's idempotency key is (ticket, template, cause event, channel, recipient): the
same cause seen again finds its rows and adds nothing, and the Message-ID derives from the
key, so a retry or a restart never makes a second mail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.db.outbox import add_event
from vigie_common.events.envelope import CloudEvent
from vigie_common.events.notices import Channel, GtrOutcome
from vigie_common.events.probes import Purpose, Verdict, VerdictReached
from vigie_common.events.tickets import CanonicalTicket, TicketEvent
from vigie_common.events.topics import GTR
from vigie_common.kafka.errors import RetryableError

from vigie_notifier import clocks
from vigie_notifier.contacts_store import recipients_for
from vigie_notifier.context import Intervention as InterventionView
from vigie_notifier.context import build_context
from vigie_notifier.mailer import message_id_for
from vigie_notifier.models import (
    Decision,
    GtrClock,
    Intervention,
    Notification,
    OutboxEvent,
    Ticket,
)
from vigie_notifier.recipients import Recipient
from vigie_notifier.rendering import Rendered, Renderer, TemplateError
from vigie_notifier.rules import Audience, Fact, FactKind, Rule, Rules, decide

__all__ = [
    "Notify",
    "Team",
    "handle_chase",
    "handle_gtr_warning",
    "handle_ticket",
    "handle_verdict",
    "notification_key",
]

_CLOSED_STATES: Final = frozenset({"restored", "in_observation", "closed"})


@dataclass(frozen=True, slots=True)
class Team:
    """A team of the configuration: its recipients and how they are told."""

    recipients: tuple[Recipient, ...]
    channel: str = "mail"


@dataclass(frozen=True, slots=True)
class Notify:
    """What the logic needs besides the session: rules, templates, teams, names, places."""

    rules: Rules
    renderer: Renderer
    teams: Mapping[Audience, Team]
    operator: str
    default_zone: str
    message_domain: str
    place: clocks.ClockPlace


def notification_key(ticket_id: str, template: str, cause: str, channel: str, to: str) -> str:
    """The idempotency key of one send (hex, 32 characters)."""
    text = "\x1f".join((ticket_id, template, cause, channel, to))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def handle_ticket(
    session: AsyncSession, event: CloudEvent[TicketEvent], *, deps: Notify, now: datetime
) -> list[GtrOutcome]:
    """A ticket version: kept, its GTR clock moved on, its rules fired (closure → CLT 6).

    Returns:
        The GTR outcome this version produced (the clock stopped), for the metrics.
    """
    data = event.data
    ticket = data.ticket
    row = await session.get(Ticket, ticket.id, with_for_update=True)
    if row is not None and row.version >= ticket.version:
        return []  # an older or repeated version: the newer one already counted
    body = ticket.model_dump(mode="json", exclude={"raw"})
    if row is None:
        row = Ticket(
            id=ticket.id,
            thread_id=message_id_for(f"ticket-{_digest(ticket.id)}", deps.message_domain),
        )
        session.add(row)
    row.version, row.state, row.customer = ticket.version, ticket.state.value, ticket.customer
    row.body, row.updated_at = body, now
    outcomes = await clocks.track_ticket(
        session, ticket, cause_event_id=event.id, heard_at=event.time, now=now, place=deps.place
    )
    for outcome in outcomes:
        await add_event(session, OutboxEvent, outcome, topic=GTR, now=now)
    if ticket.state.value in _CLOSED_STATES:
        await _close_interventions(session, ticket.id, now)
    previous = data.previous_state.value if data.previous_state else None
    fact = Fact(FactKind.TICKET, {"state": ticket.state.value, "previous_state": previous})
    await _fire(session, deps, fact, ticket=ticket, cause=event, now=now)
    return [outcome.data for outcome in outcomes]


async def handle_verdict(
    session: AsyncSession, event: CloudEvent[VerdictReached], *, deps: Notify, now: datetime
) -> list[GtrOutcome]:
    """A verdict: the GTR clock stopped by the first stable one, and its rules fired.

    Returns:
        The GTR outcome the verdict produced (the first stable one), for the metrics.

    Raises:
        RetryableError: the ticket has not reached the notifier yet (another topic): the loop
            retries until it has.
    """
    verdict = event.data
    row = await session.get(Ticket, verdict.ticket_id)
    if row is None:
        raise RetryableError(f"verdict for ticket {verdict.ticket_id} before the ticket itself")
    ticket = CanonicalTicket.model_validate(row.body)
    outcomes: list[GtrOutcome] = []
    if verdict.verdict is Verdict.STABLE:
        clock = await session.get(GtrClock, ticket.id, with_for_update=True)
        if clock is not None and clock.state == "running":
            for outcome in clocks.restore(
                clock, at=verdict.until, cause_event_id=event.id, now=now
            ):
                await add_event(session, OutboxEvent, outcome, topic=GTR, now=now)
                outcomes.append(outcome.data)
    fields = {
        "verdict": verdict.verdict.value,
        "purpose": verdict.purpose.value,
        "final": verdict.observation.final
        if verdict.observation
        else verdict.purpose is Purpose.DIAGNOSTIC,
        "ticket_state": ticket.state.value,
    }
    await _fire(
        session,
        deps,
        Fact(FactKind.VERDICT, fields),
        ticket=ticket,
        cause=event,
        now=now,
        verdict=verdict,
    )
    return outcomes


async def handle_gtr_warning(
    session: AsyncSession, clock: GtrClock, *, deps: Notify, now: datetime
) -> bool:
    """A threshold reached: the warning event and its rules (EDS); False when none is due."""
    threshold = clocks.due_warning(clock, now)
    if threshold is None:
        contract_due = clock.due_at
        clock.due_at = contract_due if contract_due and contract_due > now else None
        return False
    warning = clocks.warning_event(clock, threshold, now)
    await add_event(session, OutboxEvent, warning, topic=GTR, now=now)
    row = await session.get(Ticket, clock.ticket_id)
    if row is not None:
        ticket = CanonicalTicket.model_validate(row.body)
        fact = Fact(FactKind.GTR_WARNING, {"threshold_percent": threshold})
        await _fire(
            session,
            deps,
            fact,
            ticket=ticket,
            cause=warning,
            now=now,
            gtr_extra={"threshold": threshold},
        )
    return True


async def handle_chase(
    session: AsyncSession, intervention: Intervention, *, deps: Notify, now: datetime
) -> None:
    """An intervention still open past its delay: its rule's chase template, once."""
    intervention.due_at = None
    row = await session.get(Ticket, intervention.ticket_id)
    if row is None or row.state in _CLOSED_STATES:
        intervention.closed_at = intervention.closed_at or now
        return
    ticket = CanonicalTicket.model_validate(row.body)
    view = InterventionView(
        code=intervention.template,
        requested_at=intervention.requested_at,
        reminders=intervention.reminders,
    )
    intervention.reminders += 1
    cause = f"chase:{intervention.ticket_id}:{intervention.template}:{intervention.reminders}"
    for rule in deps.rules.rules:
        if rule.send == intervention.template and rule.chase is not None:
            chase = Rule(
                name=f"{rule.name}-chase",
                event=FactKind.CHASE,
                send=rule.chase.send,
                to=rule.to,
            )
            await _apply(
                session,
                deps,
                chase,
                ticket=ticket,
                cause_id=cause,
                cause_type="chase",
                now=now,
                intervention=view,
            )


async def _close_interventions(session: AsyncSession, ticket_id: str, now: datetime) -> None:
    for row in await session.scalars(
        select(Intervention).where(Intervention.ticket_id == ticket_id)
    ):
        if row.closed_at is None:
            row.closed_at, row.due_at = now, None


async def _fire(
    session: AsyncSession,
    deps: Notify,
    fact: Fact,
    *,
    ticket: CanonicalTicket,
    cause: CloudEvent[Any],
    now: datetime,
    verdict: VerdictReached | None = None,
    gtr_extra: Mapping[str, object] | None = None,
) -> None:
    for rule in decide(deps.rules, fact):
        await _apply(
            session,
            deps,
            rule,
            ticket=ticket,
            cause_id=cause.id,
            cause_type=cause.type,
            now=now,
            verdict=verdict,
            gtr_extra=gtr_extra,
        )


async def _apply(
    session: AsyncSession,
    deps: Notify,
    rule: Rule,
    *,
    ticket: CanonicalTicket,
    cause_id: str,
    cause_type: str,
    now: datetime,
    verdict: VerdictReached | None = None,
    gtr_extra: Mapping[str, object] | None = None,
    intervention: InterventionView | None = None,
) -> None:
    """One rule fired: the decision, stored with its cause; the sends, rendered and queued."""
    seen = await session.scalar(
        select(Decision.id).where(
            Decision.ticket_id == ticket.id,
            Decision.template == rule.send,
            Decision.cause_event_id == cause_id,
        )
    )
    if seen is not None:
        return
    decision = Decision(
        ticket_id=ticket.id,
        cause_event_id=cause_id,
        cause_type=cause_type,
        rule=rule.name,
        template=rule.send,
        audience=rule.to.value,
        outcome="",
        created_at=now,
    )
    session.add(decision)  # written with the next query or the commit, outcome included
    if rule.chase is not None and not await _open_intervention(session, ticket.id, rule, now):
        decision.outcome = f"not sent: {rule.send} already requested and still open"
        return
    chosen = await _recipients(session, deps, rule.to, ticket)
    if chosen is None:
        decision.outcome = f"not sent: no recipients for {rule.to.value}"
        return
    recipients, channel = chosen
    gtr_view = await _gtr_view(session, ticket.id, now, gtr_extra)
    try:
        context = build_context(
            ticket,
            operator=deps.operator,
            verdict=verdict,
            gtr=gtr_view,
            intervention=intervention,
            default_zone=deps.default_zone,
        )
        rendered = deps.renderer.render(rule.send, context)
    except (TemplateError, ValueError) as exc:
        decision.outcome = f"not sent: {rule.send} could not be rendered ({exc})"[:500]
        return
    queued = _queue(decision, rendered, recipients, channel, deps, now=now)
    decision.outcome = (
        f"queued {len(queued)} send(s)"
        if queued
        else (f"not sent: no recipient reachable by {channel}")
    )
    if queued:
        # A new decision's sends are new: their keys derive from the decision's own
        # (ticket, template, cause), which the check above found nowhere.
        await session.flush()  # the decision's id, for its notifications
        for notification in queued:
            notification.decision_id = decision.id
        session.add_all(queued)


async def _open_intervention(
    session: AsyncSession, ticket_id: str, rule: Rule, now: datetime
) -> bool:
    """Open the intervention a chased rule asks for; False when one is already open."""
    assert rule.chase is not None
    row = await session.scalar(
        select(Intervention).where(
            Intervention.ticket_id == ticket_id, Intervention.template == rule.send
        )
    )
    if row is not None and row.closed_at is None:
        return False
    if row is None:
        row = Intervention(ticket_id=ticket_id, template=rule.send, reminders=0)
        session.add(row)
    row.requested_at, row.closed_at, row.reminders = now, None, 0
    row.due_at = now + timedelta(minutes=rule.chase.after_minutes)
    row.lease_owner = row.lease_expires_at = None
    return True


async def _recipients(
    session: AsyncSession, deps: Notify, audience: Audience, ticket: CanonicalTicket
) -> tuple[tuple[Recipient, ...], str] | None:
    if audience is not Audience.CUSTOMER:
        team = deps.teams.get(audience)
        return (team.recipients, team.channel) if team and team.recipients else None
    sites = [s.code for s in (ticket.site_a, ticket.site_b) if s is not None]
    choice = await recipients_for(session, customer=ticket.customer, site_codes=sites)
    if choice is None or not choice.recipients:
        return None
    return tuple(choice.recipients), str(choice.channel)


async def _gtr_view(
    session: AsyncSession, ticket_id: str, now: datetime, extra: Mapping[str, object] | None
) -> dict[str, object] | None:
    clock = await session.get(GtrClock, ticket_id)
    if clock is None or clock.deadline is None:
        return dict(extra) if extra else None
    view: dict[str, object] = {
        "deadline": clock.deadline,
        "remaining": clock.deadline - now,
        "state": clock.state,
    }
    if clock.contract:
        view["budget_minutes"] = clock.contract.get("budget_minutes")
    if clock.business_minutes_used is not None:
        view["business_minutes_used"] = clock.business_minutes_used
    if clock.met is not None:
        view["met"], view["margin_minutes"] = clock.met, clock.margin_minutes
    return view | dict(extra or {})


def _queue(
    decision: Decision,
    rendered: Rendered,
    recipients: Sequence[Recipient],
    channel: str,
    deps: Notify,
    *,
    now: datetime,
) -> list[Notification]:
    """The notifications of one decision: one mail to everyone, one SMS per mobile."""
    queued: list[Notification] = []
    base = {
        "ticket_id": decision.ticket_id,
        "template": decision.template,
        "state": "pending",
        "attempts": 0,
        "cause_event_id": decision.cause_event_id,
        "rule": decision.rule,
        "created_at": now,
        "due_at": now,
    }
    wants_mail = channel in ("mail", "both") and rendered.text is not None
    wants_sms = channel in ("sms", "both") and rendered.sms is not None
    if wants_mail:
        people = [r for r in recipients if r.email]
        if people:
            key = notification_key(
                decision.ticket_id,
                decision.template,
                decision.cause_event_id,
                "mail",
                ",".join(sorted(r.email for r in people)),
            )
            queued.append(
                Notification(
                    key=key,
                    channel=Channel.MAIL.value,
                    recipients=[_address(r) for r in people],
                    message_id=message_id_for(key, deps.message_domain),
                    subject=rendered.subject,
                    text=rendered.text or "",
                    html=rendered.html,
                    **base,
                )
            )
    if wants_sms and rendered.sms is not None:
        for person in recipients:
            if person.phone is None or not person.sms_capable:
                continue
            key = notification_key(
                decision.ticket_id,
                decision.template,
                decision.cause_event_id,
                "sms",
                person.phone,
            )
            queued.append(
                Notification(
                    key=key,
                    channel=Channel.SMS.value,
                    recipients=[_address(person)],
                    message_id=key,
                    subject=None,
                    text=rendered.sms,
                    html=None,
                    **base,
                )
            )
    return queued


def _address(recipient: Recipient) -> dict[str, str | None]:
    return {"name": recipient.name, "email": recipient.email, "phone": recipient.phone}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
