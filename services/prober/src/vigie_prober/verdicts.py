"""Verdicts: what one device's alarm log says about its line, then what a ticket's ends say.

Pure: values in, values out. The reading rules, so that every technician gets the same
answer from the same paste:

* Nothing recognised at all (empty paste, another vendor's output): ``inconclusive``, with
  the reason.
* The line is ``flapping`` when the dampening penalty says so (see :mod:`vigie_prober.flaps`),
  whatever else the log holds.
* A link alarm raised and not cleared: ``inconclusive`` (alarm active since …).
* The command ran but the log holds no link alarm (empty, or other alarms only): ``stable``,
  with ``stable_since`` None.
* The last link alarm cleared at least the quiet interval ago: ``stable`` since that clear.
* Cleared more recently: ``inconclusive`` (quiet for … of the … needed).

Flaps are the cuts counted from ``since`` (the repair, the start of the observation), or every
cut of the log without it; only link events count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigie_common.events.probes import Verdict

__all__ = [
    "SEVERITY",
    "DeviceVerdict",
    "TicketVerdict",
    "Verdict",
    "duration",
    "judge_device",
    "judge_ticket",
    "stamp",
]

from vigie_prober import flaps
from vigie_prober.flaps import DEFAULT_POLICY, DampeningPolicy
from vigie_prober.schemas import AlarmEvent, ParsedLog

SEVERITY: dict[Verdict, int] = {
    Verdict.STABLE: 0,
    Verdict.INCONCLUSIVE: 1,
    Verdict.FLAPPING: 2,
    Verdict.UNREACHABLE: 3,
}
"""How bad each verdict is, for a P2P ticket: the worst end wins.

Unreachable is worst (the line is down now, an intervention is needed), then flapping (it
cuts, proven by the log), then inconclusive (not proven either way), then stable.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceVerdict:
    """The verdict on one device (one end of the line), with its evidence.

    Attributes:
        verdict: stable, flapping, inconclusive or unreachable.
        reason: One line for a human, e.g. ``stable since 2025-06-16 16:10:44+02:00``.
        stable_since: The last link clear once quiet long enough, else None.
        flaps: Cuts counted from ``since`` (every cut without it).
        penalty: The dampening penalty at the time of judgement.
        events: Every event of the log, in time order (the evidence).
        unparsed: The lines no driver could read, kept as evidence.
        device: The device's name, to tell the ends apart in a ticket's reason.
    """

    verdict: Verdict
    reason: str
    stable_since: datetime | None = None
    flaps: int = 0
    penalty: float = 0.0
    events: tuple[AlarmEvent, ...] = ()
    unparsed: tuple[str, ...] = ()
    device: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketVerdict:
    """The verdict on a ticket's line, from its ends (one, or two for P2P).

    Attributes:
        verdict: The worst of the ends' verdicts (see ``SEVERITY``).
        reason: The stable reason, or the reasons of the ends that have the worst verdict.
        stable_since: When stable, the latest of the ends' (the line is stable since both
            ends are); None otherwise.
        flaps: The most flaps seen at one end (a cut of the line shows at both).
        penalty: The highest penalty of the ends.
        ends: The ends' verdicts, as given.
    """

    verdict: Verdict
    reason: str
    stable_since: datetime | None = None
    flaps: int = 0
    penalty: float = 0.0
    ends: tuple[DeviceVerdict, ...] = ()


def stamp(at: datetime) -> str:
    """An instant as reasons print it: ``2025-06-16 16:10:44+02:00``."""
    return at.isoformat(sep=" ", timespec="seconds")


def duration(span: timedelta) -> str:
    """A duration as reasons print it: ``45 s``, ``12 min``, ``1 h 20 min``, ``2 d 3 h``."""
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _unrecognised(parsed: ParsedLog) -> str:
    if not parsed.unparsed:
        return "no log recognised (empty output)"
    return f"no log recognised ({_plural(len(parsed.unparsed), 'line')} unread)"


def _flapping(
    events: Sequence[AlarmEvent],
    *,
    now: datetime,
    since: datetime | None,
    counted: int,
    policy: DampeningPolicy,
) -> str:
    if since is None:
        first = flaps.cuts(events, until=now, policy=policy)[0].at
        return f"flapping ({_plural(counted, 'flap')} in {duration(now - first)})"
    if counted:
        return f"flapping ({_plural(counted, 'flap')} in {duration(now - since)})"
    return f"flapping (from cuts before {stamp(since)})"


def _active(alarm: AlarmEvent) -> str:
    where = f"{alarm.device} {alarm.source}" if alarm.device else alarm.source
    return f"alarm active since {stamp(alarm.at)} ({alarm.alarm} on {where})"


def _quiet(events: Sequence[AlarmEvent], *, now: datetime, policy: DampeningPolicy) -> str:
    clear = flaps.last_clear(events)
    if clear is None:  # not reached: a last link raise is an active alarm
        return "no link alarm cleared"
    if clear.at > now:
        return f"link alarm cleared at {stamp(clear.at)}, after the time of judgement"
    return (
        f"quiet for {duration(now - clear.at)} since {stamp(clear.at)}, "
        f"{duration(policy.quiet)} needed"
    )


def _stable(stable: datetime, *, since: datetime | None, counted: int) -> str:
    reason = f"stable since {stamp(stable)}"
    if since is not None and counted:
        reason += f" ({_plural(counted, 'flap')} since {stamp(since)})"
    return reason


def judge_device(
    parsed: ParsedLog,
    *,
    now: datetime,
    since: datetime | None = None,
    policy: DampeningPolicy = DEFAULT_POLICY,
    device: str | None = None,
) -> DeviceVerdict:
    """Judge one device from its parsed alarm log, by the reading rules of this module.

    Args:
        parsed: What the driver made of the device's output. A log with events counts as
            recognised whatever its flag says.
        now: The time of judgement (aware): penalty, flapping state and quiet interval.
        since: Count flaps from here (the repair, the observation's start); None: every cut.
        policy: The dampening policy.
        device: The device's name, carried to the ticket's reason.

    Returns:
        The verdict with its reason, figures and evidence.
    """
    events = tuple(flaps.ordered(parsed.events))
    counted = flaps.flaps_in(events, since=since, until=now, policy=policy)
    penalty = flaps.penalty_at(events, now=now, policy=policy)
    stable = flaps.stable_since(events, now=now, policy=policy)
    alarm = flaps.active_alarm(events)
    if not parsed.recognised and not events:
        verdict, reason = Verdict.INCONCLUSIVE, _unrecognised(parsed)
    elif flaps.flapping_at(events, now=now, policy=policy):
        reason = _flapping(events, now=now, since=since, counted=counted, policy=policy)
        verdict = Verdict.FLAPPING
    elif alarm is not None:
        verdict, reason = Verdict.INCONCLUSIVE, _active(alarm)
    elif not any(e.link for e in events):
        what = "no link alarm in the log" if events else "empty log"
        verdict, reason = Verdict.STABLE, f"stable ({what})"
    elif stable is not None:
        verdict, reason = Verdict.STABLE, _stable(stable, since=since, counted=counted)
    else:
        verdict, reason = Verdict.INCONCLUSIVE, _quiet(events, now=now, policy=policy)
    return DeviceVerdict(
        verdict=verdict,
        reason=reason,
        stable_since=stable,
        flaps=counted,
        penalty=penalty,
        events=events,
        unparsed=parsed.unparsed,
        device=device,
    )


def judge_ticket(ends: Sequence[DeviceVerdict]) -> TicketVerdict:
    """Judge a ticket's line from its ends: the worst end wins (see ``SEVERITY``).

    Args:
        ends: One verdict per end (both ends for P2P), in the ticket's order.

    Returns:
        The ticket's verdict; ``inconclusive`` when there is no end to judge.
    """
    if not ends:
        return TicketVerdict(verdict=Verdict.INCONCLUSIVE, reason="no end to judge")
    worst = max((end.verdict for end in ends), key=SEVERITY.__getitem__)
    stable_since: datetime | None = None
    if worst is Verdict.STABLE:
        stable_since = max((e.stable_since for e in ends if e.stable_since), default=None)
    if len(ends) == 1:
        reason = ends[0].reason
    elif worst is Verdict.STABLE:
        reason = f"stable since {stamp(stable_since)}" if stable_since else "stable (no link alarm)"
    else:
        reason = "; ".join(
            f"{end.device or f'end {n}'}: {end.reason}"
            for n, end in enumerate(ends, start=1)
            if end.verdict is worst
        )
    return TicketVerdict(
        verdict=worst,
        reason=reason,
        stable_since=stable_since,
        flaps=max(end.flaps for end in ends),
        penalty=max(end.penalty for end in ends),
        ends=tuple(ends),
    )
