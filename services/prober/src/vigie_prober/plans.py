"""What a ticket asks of the prober, and when its next probe is due: pure rules.

* ``open``: one **diagnostic** probe, now. A later ``open`` version with the same sites keeps
  the plan (a note added upstream is not a reason to log into the routers again).
* ``restored`` / ``in_observation``: an **observation** — a probe now, then every interval
  until the window closes. The window starts at the repair (``restored_at``, when upstream
  gives it and it is not in the future), else when vigie hears of it; flaps are counted from
  there. ``restored`` then ``in_observation`` with the same sites keeps the running plan.
  A window already closed gets one probe, the final one.
* ``closed``: nothing more is due; a probe already running finishes but its result is dropped.
* An observation ends early when a round finds the line ``flapping`` or ``unreachable``: the
  line failed its observation, and probing it every interval would tell nobody anything new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from vigie_common.events.probes import Purpose, Verdict
from vigie_common.events.tickets import CanonicalTicket, TicketState

from vigie_prober.settings import Timing

__all__ = [
    "DIAGNOSED",
    "LINE_FAILED",
    "TICKET_CLOSED",
    "WINDOW_CLOSED",
    "Change",
    "CurrentPlan",
    "NextProbe",
    "PlanChange",
    "SiteRef",
    "next_probe",
    "plan_ticket",
    "ticket_sites",
]

DIAGNOSED: Final = "diagnosed"
WINDOW_CLOSED: Final = "window closed"
LINE_FAILED: Final = "line failed"
TICKET_CLOSED: Final = "ticket closed"

_FAILED: Final = frozenset({Verdict.FLAPPING, Verdict.UNREACHABLE})

SiteRef = dict[str, str | None]
"""One end of the ticket: ``{"end": "a", "code": …, "service_reference": …}``."""


class Change(StrEnum):
    """What a ticket event does to the ticket's plan."""

    NEW = "new"
    """A new plan replaces whatever was there (its probes get new event ids)."""
    KEEP = "keep"
    """The running plan goes on; only the ticket's version is noted."""
    CANCEL = "cancel"
    """Nothing more is due."""
    NONE = "none"
    """Nothing to do (a closed ticket vigie never probed)."""


@dataclass(frozen=True, slots=True)
class CurrentPlan:
    """The part of a stored plan the rules look at."""

    purpose: Purpose
    sites: list[SiteRef]
    pending: bool
    """A probe is still due (or running)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanChange:
    """The rules' answer to a ticket event; the times are set for :attr:`Change.NEW` only."""

    change: Change
    purpose: Purpose | None = None
    due_at: datetime | None = None
    since: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    interval: timedelta | None = None


def ticket_sites(ticket: CanonicalTicket) -> list[SiteRef]:
    """The ticket's ends, ``a`` then ``b``, as the plan stores them."""
    ends = (("a", ticket.site_a), ("b", ticket.site_b))
    return [
        {"end": end, "code": site.code, "service_reference": site.service_reference}
        for end, site in ends
        if site is not None
    ]


def plan_ticket(
    ticket: CanonicalTicket, *, current: CurrentPlan | None, now: datetime, timing: Timing
) -> PlanChange:
    """The plan a ticket version asks for, given the plan the ticket has (if any)."""
    sites = ticket_sites(ticket)
    same_sites = current is not None and current.sites == sites
    if ticket.state is TicketState.CLOSED:
        if current is not None and current.pending:
            return PlanChange(change=Change.CANCEL)
        return PlanChange(change=Change.NONE)
    if ticket.state is TicketState.OPEN:
        if current is not None and current.purpose is Purpose.DIAGNOSTIC and same_sites:
            return PlanChange(change=Change.KEEP)
        return PlanChange(change=Change.NEW, purpose=Purpose.DIAGNOSTIC, due_at=now)
    if current is not None and current.purpose is Purpose.OBSERVATION and same_sites:
        return PlanChange(change=Change.KEEP)
    repaired = ticket.restored_at
    start = repaired if repaired is not None and repaired <= now else now
    return PlanChange(
        change=Change.NEW,
        purpose=Purpose.OBSERVATION,
        due_at=now,
        since=start,
        window_start=start,
        window_end=start + timing.window,
        interval=timing.interval,
    )


@dataclass(frozen=True, slots=True)
class NextProbe:
    """After a round: when the next one is due (None: no more), and why it stopped."""

    due_at: datetime | None
    final: bool
    outcome: str | None


def next_probe(
    *,
    purpose: Purpose,
    verdict: Verdict,
    started: datetime,
    window_end: datetime | None,
    interval: timedelta | None,
) -> NextProbe:
    """When the plan's next probe is due, from the round that just ran (started at ``started``).

    A round that started at or after the window's end is the final one; the next probe is
    never scheduled past the window's end, so the last one runs when the window closes.
    """
    if purpose is Purpose.DIAGNOSTIC or window_end is None or interval is None:
        return NextProbe(None, final=True, outcome=DIAGNOSED)
    if verdict in _FAILED:
        return NextProbe(None, final=True, outcome=LINE_FAILED)
    if started >= window_end:
        return NextProbe(None, final=True, outcome=WINDOW_CLOSED)
    return NextProbe(min(started + interval, window_end), final=False, outcome=None)
