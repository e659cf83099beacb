"""Flap detection on a device's own alarm log: interface event dampening, pure.

How vigie decides that a line flaps, from the router's alarm log rather than from a count:

* Only **link** events count (RAD LOC / RDI / link down; Cisco ``%LINK-3-UPDOWN`` and
  ``%LINEPROTO-5-UPDOWN``). Power, temperature, admin-down and other alarms are evidence only.
* Each **cut** adds a penalty (1000) when it is *raised*; a clear adds nothing. The raises of
  one cut are counted once: a cut takes in the link raises up to 60 s before its last raise
  (LOC then RDI of the same cut, or both ends of a P2P link pasted together), and its
  penalty counts from that last raise. A burst of raises longer than 60 s is several cuts.
* The penalty **halves every 15 min** (exponential decay), so old cuts fade away.
* The line is **flapping** once the penalty goes above 2000 (three cuts close together), and
  stays flapping until the penalty falls below 750 (hysteresis: no flip-flop around one
  threshold). The state is simulated over the log's history, not read from one number.
* The line is **stable since** the last clear of a link alarm with no raise after it, once a
  quiet interval (60 min) has passed since that clear; before that, ``stable_since`` is None.

For a ping series without any log, :func:`icinga_flapping` applies the Icinga 2 method.

Every function takes the events in any order (they are sorted inside), and time only as
arguments (``now``, ``since``, ``until``): values in, values out.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from vigie_prober.schemas import AlarmEvent, EventKind

ICINGA_SAMPLES = 20
"""How many samples the Icinga 2 method weighs (its state-change buffer)."""

_KIND_RANK = {EventKind.RAISE: 0, EventKind.CLEAR: 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class DampeningPolicy:
    """The knobs of interface event dampening, with vigie's defaults.

    Attributes:
        penalty: Added at each cut (the first raise of a link alarm); clears add nothing.
        coalesce: A cut takes in the link raises up to this long (inclusive) before its
            last raise: LOC and RDI of one cut, or both ends of a P2P link in one paste,
            count once.
        half_life: The penalty halves over this duration (exponential decay).
        suppress: The line starts flapping when the penalty goes above this.
        reuse: A flapping line stops flapping when the penalty falls below this; lower than
            ``suppress`` (hysteresis).
        quiet: How long after the last clear, with no raise since, before the line is stable.
    """

    penalty: float = 1000.0
    coalesce: timedelta = timedelta(seconds=60)
    half_life: timedelta = timedelta(minutes=15)
    suppress: float = 2000.0
    reuse: float = 750.0
    quiet: timedelta = timedelta(minutes=60)

    def __post_init__(self) -> None:
        """Refuse a policy that cannot work, naming the field."""
        if self.penalty <= 0:
            raise ValueError("penalty must be positive")
        if self.half_life <= timedelta(0):
            raise ValueError("half_life must be positive")
        if self.coalesce < timedelta(0) or self.quiet < timedelta(0):
            raise ValueError("coalesce and quiet must not be negative")
        if not 0 < self.reuse < self.suppress:
            raise ValueError("reuse must be positive and below suppress")


DEFAULT_POLICY = DampeningPolicy()


@dataclass(frozen=True, slots=True)
class Cut:
    """One cut of the line: link raises coalesced together, in time order (never empty)."""

    events: tuple[AlarmEvent, ...]

    @property
    def first(self) -> AlarmEvent:
        """The cut's first raise: when the cut happened."""
        return self.events[0]

    @property
    def last(self) -> AlarmEvent:
        """The cut's last raise: the penalty is carried from here."""
        return self.events[-1]

    @property
    def at(self) -> datetime:
        """When the cut started (its first raise)."""
        return self.events[0].at


def _sort_key(event: AlarmEvent) -> tuple[object, ...]:
    offset = event.at.utcoffset() or timedelta(0)
    return (
        event.at,
        offset,
        _KIND_RANK[event.kind],
        event.device or "",
        event.source,
        event.alarm,
        event.severity or "",
        event.link,
        event.line,
    )


def ordered(events: Iterable[AlarmEvent]) -> list[AlarmEvent]:
    """Sort events in time, with a total tie-break so that input order never matters.

    At one instant a raise comes before a clear (the clear followed it), then device,
    source, alarm and the line decide.
    """
    return sorted(events, key=_sort_key)


def _check_aware(**times: datetime | None) -> None:
    for name, value in times.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime")


def _link_raises(events: Iterable[AlarmEvent], until: datetime | None) -> list[AlarmEvent]:
    return [
        e
        for e in ordered(events)
        if e.link and e.kind is EventKind.RAISE and (until is None or e.at <= until)
    ]


def _decay(elapsed: timedelta, policy: DampeningPolicy) -> float:
    return float(0.5 ** (elapsed / policy.half_life))


def _previous_cuts(raises: Sequence[AlarmEvent], policy: DampeningPolicy) -> list[int]:
    """For each raise, the index of the last raise of the cut before its own (-1: none).

    A raise's cut holds every raise within ``coalesce`` before it, so the previous cut ends
    at the last raise strictly more than ``coalesce`` earlier.
    """
    times = [r.at for r in raises]
    return [bisect_left(times, r.at - policy.coalesce, hi=i) - 1 for i, r in enumerate(raises)]


def _penalties(raises: Sequence[AlarmEvent], policy: DampeningPolicy) -> list[float]:
    """The penalty just after each raise, the raises sorted in time.

    A raise adds ``penalty`` on top of the penalty left by the previous cut, so a raise
    coalesced into a cut carries the cut to its own time without adding to it. This is the
    largest penalty any choice of cuts more than ``coalesce`` apart could give, which is why
    an extra raise can never lower it.
    """
    previous = _previous_cuts(raises, policy)
    after: list[float] = []
    for raise_, j in zip(raises, previous, strict=True):
        carried = after[j] * _decay(raise_.at - raises[j].at, policy) if j >= 0 else 0.0
        after.append(policy.penalty + carried)
    return after


def cuts(
    events: Iterable[AlarmEvent],
    *,
    until: datetime | None = None,
    policy: DampeningPolicy = DEFAULT_POLICY,
) -> list[Cut]:
    """Group the link raises into cuts, oldest first.

    Args:
        events: The device's alarm events (or several devices' from one paste), any order.
        until: Ignore raises after this instant (None: all of them).
        policy: ``coalesce`` is the only field used.

    Returns:
        The cuts: each holds the raises within ``coalesce`` before its last raise.
    """
    _check_aware(until=until)
    raises = _link_raises(events, until)
    previous = _previous_cuts(raises, policy)
    found: list[Cut] = []
    end = len(raises) - 1
    while end >= 0:
        start = previous[end] + 1
        found.append(Cut(events=tuple(raises[start : end + 1])))
        end = previous[end]
    found.reverse()
    return found


def penalty_at(
    events: Iterable[AlarmEvent], *, now: datetime, policy: DampeningPolicy = DEFAULT_POLICY
) -> float:
    """The dampening penalty at ``now``, from the link raises up to ``now``.

    Args:
        events: The alarm events, any order; raises after ``now`` are ignored.
        now: When to read the penalty (aware).
        policy: Penalty per cut, coalescing window and half-life.

    Returns:
        The decayed penalty, 0.0 without any link raise.
    """
    _check_aware(now=now)
    raises = _link_raises(events, now)
    if not raises:
        return 0.0
    return _penalties(raises, policy)[-1] * _decay(now - raises[-1].at, policy)


def flapping_at(
    events: Iterable[AlarmEvent], *, now: datetime, policy: DampeningPolicy = DEFAULT_POLICY
) -> bool:
    """Whether the line is flapping at ``now``, simulating the hysteresis over the log.

    The penalty only rises at a raise and only decays in between, so the state flips on at
    a raise taking it above ``suppress`` and off whenever it has decayed below ``reuse``.

    Args:
        events: The alarm events, any order; events after ``now`` are ignored.
        now: When to read the state (aware).
        policy: The dampening policy.

    Returns:
        True when flapping at ``now``.
    """
    _check_aware(now=now)
    raises = _link_raises(events, now)
    after = _penalties(raises, policy)
    flapping = False
    for i, raise_ in enumerate(raises):
        if flapping and i > 0:
            before = after[i - 1] * _decay(raise_.at - raises[i - 1].at, policy)
            flapping = before >= policy.reuse
        flapping = flapping or after[i] > policy.suppress
    if flapping:
        flapping = after[-1] * _decay(now - raises[-1].at, policy) >= policy.reuse
    return flapping


def flaps_in(
    events: Iterable[AlarmEvent],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    policy: DampeningPolicy = DEFAULT_POLICY,
) -> int:
    """How many cuts started between ``since`` and ``until`` (both included).

    Args:
        events: The alarm events, any order.
        since: Count cuts whose first raise is at or after this (None: every cut).
        until: Ignore raises after this (None: all of them).
        policy: ``coalesce`` is the only field used.

    Returns:
        The number of cuts (flaps) in the window.
    """
    _check_aware(since=since, until=until)
    return sum(
        1 for c in cuts(events, until=until, policy=policy) if since is None or c.at >= since
    )


def active_alarm(events: Iterable[AlarmEvent]) -> AlarmEvent | None:
    """The oldest link alarm raised and not cleared since, if any.

    A clear matches the raises of the same (device, source, alarm); drivers give a raise
    and its clear the same ``alarm`` and ``source``. A clear with no raise in the log (the
    raise fell out of the buffer) matches nothing and is harmless.

    Args:
        events: The alarm events, any order.

    Returns:
        The first raise of the oldest alarm still active, or None.
    """
    active: dict[tuple[str | None, str, str], AlarmEvent] = {}
    for event in ordered(events):
        if not event.link:
            continue
        key = (event.device, event.source, event.alarm)
        if event.kind is EventKind.RAISE:
            active.setdefault(key, event)
        else:
            active.pop(key, None)
    return min(active.values(), key=_sort_key, default=None)


def last_clear(events: Iterable[AlarmEvent]) -> AlarmEvent | None:
    """The last clear of a link alarm, when no link raise follows it and none is active.

    Args:
        events: The alarm events, any order.

    Returns:
        That clear, or None (no link clear, a raise after it, or an alarm still active).
    """
    events = ordered(events)
    links = [e for e in events if e.link]
    if not links or links[-1].kind is not EventKind.CLEAR or active_alarm(links) is not None:
        return None
    return links[-1]


def stable_since(
    events: Iterable[AlarmEvent], *, now: datetime, policy: DampeningPolicy = DEFAULT_POLICY
) -> datetime | None:
    """Since when the line is stable: the last link clear, once the quiet interval passed.

    Args:
        events: The alarm events, any order, including any dated after ``now`` (a device
            clock ahead of ours: they keep the line from looking quiet).
        now: The time of judgement (aware).
        policy: ``quiet`` is the only field used.

    Returns:
        The instant of the last link clear, as the log gives it, when no link raise follows
        it, no link alarm is still active and at least ``quiet`` has passed since; else None
        (also when the log has no link clear at all).
    """
    _check_aware(now=now)
    clear = last_clear(events)
    if clear is None or now - clear.at < policy.quiet:
        return None
    return clear.at


def icinga_flapping(
    states: Sequence[bool], *, previous: bool, high: float = 30.0, low: float = 25.0
) -> tuple[bool, float]:
    """Flapping of a series of samples (e.g. pings) without any log, the Icinga 2 way.

    The last 20 samples are weighed; a sample counts when its state differs from the sample
    before it. The i-th of them (i = 0 the oldest, 19 the newest) weighs 0.8 + 0.02·i, so
    recent changes weigh more, and the value is 100 x (sum of the weights of the changes) / 20
    (at most 99 %). Fewer samples fill the newest positions; the oldest sample of a series
    has nothing before it and never counts as a change.

    Args:
        states: The samples, oldest first (e.g. True = answered).
        previous: Whether the series was flapping before these samples (hysteresis).
        high: A series not flapping starts flapping above this percentage.
        low: A flapping series keeps flapping while above this percentage (stops at or
            below it), as Icinga 2 does.

    Returns:
        Whether it flaps, and the weighted percentage of state changes.
    """
    window = list(states[-(ICINGA_SAMPLES + 1) :])
    changes = [a != b for a, b in pairwise(window)]
    offset = ICINGA_SAMPLES - len(changes)
    # 100 x (0.8 + 0.02·i) / 20 = (40 + i) / 10: exact in integers.
    tenths = sum(40 + offset + i for i, changed in enumerate(changes) if changed)
    value = tenths / 10
    return (value > low if previous else value > high), value
