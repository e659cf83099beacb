"""A demo ticket's timeline: the read APIs' answers turned into lines, and the step still missing.

Pure logic, no I/O: :mod:`vigie_devstack.demo` polls ingest, the prober, the notifier and the
mail folder, hands each round's answers here as a :class:`Snapshot`, and prints the lines
:meth:`Timeline.update` returns. Each fact is told once, when it first shows, stamped with the
seconds since the ticket's webhook; what never showed is named by :meth:`Timeline.missing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "STEPS",
    "Expectation",
    "Snapshot",
    "Timeline",
    "eml_for",
    "flatten",
    "layer_text",
]

STEPS: Final = ("received", "probed", "verdict", "decision", "mail", "gtr")
"""A ticket's way from webhook to mail, in order: what :meth:`Timeline.missing` names."""
EVIDENCE_LINES: Final = 6
"""Evidence lines shown per end (the flapping router's log has dozens; the rest is counted)."""
INDENT: Final = " " * 12
"""Continuation lines start under the text of the stamped line."""


def flatten(text: str) -> str:
    """One line of ``text``: a RAD alarm spans three log lines, shown here as one."""
    return " ".join(text.split())


def eml_for(message_id: str | None, names: Sequence[str]) -> str | None:
    """The sink's ``.eml`` file name for a Message-ID (the sink ends each name with it)."""
    if not message_id:
        return None
    tail = f"-{message_id.strip('<>')}.eml"
    return next((name for name in names if name.endswith(tail)), None)


def _figure(value: Any, digits: int = 1) -> str:
    """A number as the timeline shows it (``27.6``), or ``?`` when the API gave none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _count(value: Any, noun: str) -> str:
    """``1 command``, ``2 commands``, ``? commands``."""
    return f"{value} {noun}" if value == 1 else f"{'?' if value is None else value} {noun}s"


def _clock_time(iso: str) -> str:
    """An API instant as a time of day in UTC (the prober's window is minutes long)."""
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%H:%M:%S UTC")
    except ValueError:
        return iso


def layer_text(layer: Mapping[str, Any]) -> str:
    """One probe layer with its figures: ICMP loss and RTT, the login, the log lines read."""
    name = str(layer.get("layer", "?"))
    figures: Mapping[str, Any] = layer.get("figures") or {}
    detail = str(layer.get("detail") or "")
    if not layer.get("ok", False):
        return f"{name} FAILED: {detail}"
    if name == "reachability" and "sent" in figures:
        text = (
            f"ICMP {figures.get('received', '?')}/{figures.get('sent', '?')} answered, "
            f"{_figure(figures.get('loss_percent'))}% loss"
        )
        if figures.get("rtt_avg_ms") is not None:
            text += (
                f", RTT {_figure(figures.get('rtt_min_ms'))}/{_figure(figures.get('rtt_avg_ms'))}"
                f"/{_figure(figures.get('rtt_max_ms'))} ms"
            )
        return text + (f" from {figures['origin']}" if figures.get("origin") else "")
    if name == "access":
        via = f" via {figures['via']}" if figures.get("via") else ""
        if figures.get("reused"):
            return f"login: reused the open session{via}"
        return f"login in {_figure(figures.get('login_s'), 3)} s{via}"
    if name == "evidence" and "events" in figures:
        return (
            f"log: {_count(figures.get('events'), 'event')} read "
            f"({_count(figures.get('commands'), 'command')}, {figures.get('bytes', '?')} bytes, "
            f"{_count(figures.get('unparsed', 0), 'line')} unread)"
        )
    return f"{name}: {detail}" if detail else f"{name}: ok"


def _local(iso: str | None, tz: str | None) -> str:
    """An API time in the contract's zone, to the minute (the GTR is counted in minutes)."""
    if not iso:
        return "?"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    try:
        zone = ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    shown = moment.astimezone(zone) if zone else moment
    return shown.strftime("%d/%m/%Y %H:%M") + (f" {tz}" if zone else "")


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a demo ticket must reach: its verdict, and the template sent to whom."""

    label: str
    """How the timeline names the ticket (``P2P``, ``flap``)."""
    verdict: str
    template: str
    audience: str
    final_verdict: bool = False
    """Wait for the verdict that ends the plan (a restored ticket's observation window)."""
    gtr_outcome: bool = False
    """Wait for the clock's outcome (met or breached), not just its deadline: only a ticket
    restored stops its clock."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One round of answers about a ticket; None where the API had nothing yet (404)."""

    ticket: Mapping[str, Any] | None = None
    """Ingest's ``GET /v1/tickets/{id}``."""
    verdict: Mapping[str, Any] | None = None
    """The prober's ``GET /v1/tickets/{id}/verdict``: latest verdict and plan."""
    observations: Sequence[Mapping[str, Any]] = ()
    """The prober's ``…/observations`` items (any order)."""
    notifications: Mapping[str, Any] | None = None
    """The notifier's ``…/notifications``: decisions and their sends."""
    gtr: Mapping[str, Any] | None = None
    """The notifier's ``…/gtr``."""
    mails: Sequence[str] = ()
    """The names of the ``.eml`` files in the mail folder."""


@dataclass(slots=True)
class Timeline:
    """One demo ticket, followed from its webhook to its mail and its GTR clock."""

    expect: Expectation
    numero: str
    ticket_id: str
    mail_dir: Path
    reached: dict[str, float] = field(default_factory=dict)
    """Each step of :data:`STEPS`, with the seconds since the webhook when it was reached."""
    mail_path: Path | None = None
    """The expected mail's ``.eml`` once it is in the mail folder."""
    _told: set[str] = field(default_factory=set)
    _last_verdict: str | None = None
    _verdict_name: str | None = None
    _last_send: str | None = None
    _gtr_text: str | None = None
    _rounds: int = 0

    def update(self, snap: Snapshot, elapsed: float) -> list[str]:
        """The lines for what ``snap`` shows that was not told yet, stamped ``elapsed``."""
        lines: list[str] = []
        lines += self._received(snap, elapsed)
        lines += self._probed(snap, elapsed)
        lines += self._verdict(snap, elapsed)
        lines += self._notifications(snap, elapsed)
        lines += self._gtr(snap, elapsed)
        return lines

    @property
    def done(self) -> bool:
        """Whether every step happened."""
        return all(step in self.reached for step in STEPS)

    def _stamp(self, elapsed: float, text: str) -> str:
        return f"{elapsed:6.1f} s  {self.expect.label:<4} {text}"

    def _reach(self, step: str, elapsed: float) -> None:
        self.reached.setdefault(step, elapsed)

    def _once(self, key: str) -> bool:
        """True the first time ``key`` is asked about: each fact is told once."""
        if key in self._told:
            return False
        self._told.add(key)
        return True

    def _received(self, snap: Snapshot, elapsed: float) -> list[str]:
        if snap.ticket is None:
            return []
        lines: list[str] = []
        ticket: Mapping[str, Any] = snap.ticket.get("ticket") or {}
        history: Sequence[Mapping[str, Any]] = snap.ticket.get("history") or [ticket]
        for version in history:
            if not self._once(f"version:{version.get('version')}"):
                continue
            self._reach("received", elapsed)
            lines.append(
                self._stamp(
                    elapsed,
                    f"received: ticket {self.ticket_id} (numero {self.numero}), "
                    f"state {version.get('state')}, version {version.get('version')}",
                )
            )
        return lines

    def _probed(self, snap: Snapshot, elapsed: float) -> list[str]:
        lines: list[str] = []
        ordered = sorted(snap.observations, key=lambda o: int(o.get("id") or 0))
        for observation in ordered:
            if not self._once(f"observation:{observation.get('id')}"):
                continue
            self._reach("probed", elapsed)
            self._rounds = max(self._rounds, int(observation.get("round") or 0))
            device: Mapping[str, Any] = observation.get("device") or {}
            outcome = observation.get("reason") or observation.get("verdict") or "no verdict"
            lines.append(
                self._stamp(
                    elapsed,
                    f"probed: end {observation.get('end')} {device.get('hostname')} "
                    f"({device.get('address')}, {device.get('driver')}), round "
                    f"{observation.get('round')} ({observation.get('purpose')}): {outcome}",
                )
            )
            layers: Sequence[Mapping[str, Any]] = observation.get("layers") or []
            if layers:
                lines.append(INDENT + " · ".join(layer_text(layer) for layer in layers))
        return lines

    def _verdict(self, snap: Snapshot, elapsed: float) -> list[str]:
        answer = snap.verdict
        verdict: Mapping[str, Any] | None = answer.get("verdict") if answer else None
        if answer is None or verdict is None:
            return []
        final = bool(answer.get("final"))
        key = f"verdict:{verdict.get('probe_id')}:{verdict.get('round')}:{final}"
        if not self._once(key):
            return []
        name = str(verdict.get("verdict"))
        self._last_verdict = f"{name}{' (final)' if final else ''}, round {verdict.get('round')}"
        self._verdict_name = f"{'final ' if final else ''}verdict {name}"
        window: Mapping[str, Any] = verdict.get("observation") or {}
        if final:
            status = "final"
        elif window.get("closes_at"):
            status = f"not final: observed until {_clock_time(str(window['closes_at']))}"
        else:
            status = "not final"
        lines = [
            self._stamp(
                elapsed,
                f"verdict: {name} — {verdict.get('reason')} "
                f"(round {verdict.get('round')}, {verdict.get('purpose')}, {status})",
            )
        ]
        if name == self.expect.verdict and (final or not self.expect.final_verdict):
            self._reach("verdict", elapsed)
        first = self._once("evidence-shown")
        if first or final:  # evidence with the first verdict and with the one that ends it
            for end in verdict.get("ends") or []:
                evidence: Sequence[str] = end.get("evidence") or []
                lines.append(
                    f"{INDENT}end {end.get('end')} {end.get('hostname')}: {end.get('reason')}"
                    f" ({len(evidence)} evidence lines)"
                )
                lines += [f"{INDENT}  | {flatten(e)}" for e in evidence[:EVIDENCE_LINES]]
                if len(evidence) > EVIDENCE_LINES:
                    lines.append(f"{INDENT}  | … {len(evidence) - EVIDENCE_LINES} more")
        return lines

    def _notifications(self, snap: Snapshot, elapsed: float) -> list[str]:
        if snap.notifications is None:
            return []
        lines: list[str] = []
        for decision in snap.notifications.get("decisions") or []:
            sends: Sequence[Mapping[str, Any]] = decision.get("notifications") or []
            wanted = (decision.get("template"), decision.get("audience")) == (
                self.expect.template,
                self.expect.audience,
            )
            if self._once(f"decision:{decision.get('id')}"):
                whom = sorted({name for s in sends for name in s.get("recipients") or [] if name})
                lines.append(
                    self._stamp(
                        elapsed,
                        f"decision: rule {decision.get('rule')} → {decision.get('template')} to "
                        f"{decision.get('audience')}"
                        + (f" ({', '.join(whom)})" if whom else "")
                        + f": {decision.get('outcome')}",
                    )
                )
            if wanted:
                self._reach("decision", elapsed)
            for send in sends:
                lines += self._send(send, snap.mails, elapsed, wanted=wanted)
        return lines

    def _send(
        self, send: Mapping[str, Any], mails: Sequence[str], elapsed: float, *, wanted: bool
    ) -> list[str]:
        state = send.get("state")
        channel = send.get("channel")
        template = send.get("template")
        if wanted and channel == "mail":
            self._last_send = f"{state}" + (
                f" ({send['last_error']})" if send.get("last_error") else ""
            )
        if state == "failed" and self._once(f"failed:{send.get('id')}"):
            return [self._stamp(elapsed, f"{channel} {template} failed: {send.get('last_error')}")]
        if state != "sent":
            return []
        whom = ", ".join(str(name) for name in send.get("recipients") or [])
        if channel != "mail":
            if self._once(f"sent:{send.get('id')}"):
                return [self._stamp(elapsed, f"{channel} sent: {template} to {whom}")]
            return []
        name = eml_for(send.get("message_id"), mails)
        if name is None or not self._once(f"sent:{send.get('id')}"):
            return []  # sent, but told once its .eml is in the folder
        path = self.mail_dir / name
        if wanted:
            self._reach("mail", elapsed)
            self.mail_path = self.mail_path or path
        return [
            self._stamp(elapsed, f"mail sent: {template} to {whom} «{send.get('subject')}»"),
            f"{INDENT}{path}",
        ]

    def _gtr(self, snap: Snapshot, elapsed: float) -> list[str]:
        clock = snap.gtr
        if clock is None:
            return []
        lines: list[str] = []
        contract: Mapping[str, Any] = clock.get("contract") or {}
        tz = contract.get("tz")
        if clock.get("error") and self._once("gtr-error"):
            lines.append(self._stamp(elapsed, f"GTR clock: {clock.get('error')}"))
        if clock.get("deadline") and self._once("gtr-clock"):
            lines.append(
                self._stamp(
                    elapsed,
                    f"GTR clock: {clock.get('commitment')}, started "
                    f"{_local(clock.get('started_at'), tz)}, deadline "
                    f"{_local(clock.get('deadline'), tz)} ({clock.get('state')})",
                )
            )
            self._gtr_text = f"deadline {_local(clock.get('deadline'), tz)}, {clock.get('state')}"
            if not self.expect.gtr_outcome:
                self._reach("gtr", elapsed)
        warned = clock.get("warned_percent") or 0
        if warned and self._once(f"gtr-warned:{warned}"):
            lines.append(self._stamp(elapsed, f"GTR warning: {warned} % of the budget used"))
            if clock.get("met") is None:
                self._gtr_text = (
                    f"deadline {_local(clock.get('deadline'), tz)}, {clock.get('state')}, "
                    f"{warned} % of the budget used"
                )
        met = clock.get("met")
        if met is not None and self._once("gtr-outcome"):
            outcome = "met" if met else "breached"
            margin = clock.get("margin_minutes")
            lines.append(
                self._stamp(
                    elapsed,
                    f"GTR outcome: {outcome}, margin {margin:+d} business minutes "
                    f"(restored {_local(clock.get('restored_at'), tz)}, deadline "
                    f"{_local(clock.get('deadline'), tz)})"
                    if isinstance(margin, int)
                    else f"GTR outcome: {outcome}",
                )
            )
            self._gtr_text = f"{outcome}, margin {margin} min"
            self._reach("gtr", elapsed)
        elif clock.get("state") in {"cancelled", "unreadable"} and self._once("gtr-stopped"):
            lines.append(self._stamp(elapsed, f"GTR clock {clock.get('state')}"))
        return lines

    def missing(self) -> str | None:
        """The first step that did not happen, said for a person; None when all did."""
        expect = self.expect
        for step in STEPS:
            if step in self.reached:
                continue
            last = f" (last verdict: {self._last_verdict})" if self._last_verdict else ""
            what = {
                "received": "ingest never showed the ticket",
                "probed": "the prober recorded no observation of its routers",
                "verdict": f"no {'final ' if expect.final_verdict else ''}"
                f"`{expect.verdict}` verdict{last}",
                "decision": f"no {expect.template} decision for the {expect.audience}{last}",
                "mail": f"the {expect.template} mail is not in {self.mail_dir}"
                + (f" (its send: {self._last_send})" if self._last_send else ""),
                "gtr": "no GTR outcome (met or breached)"
                if expect.gtr_outcome
                else "no GTR clock with a deadline",
            }[step]
            return f"{expect.label} ticket {self.numero} ({self.ticket_id}): {step}: {what}"
        return None

    def summary(self) -> str:
        """One line: the verdict, the mail and when it went, the GTR clock."""
        expect = self.expect
        mail_at = self.reached.get("mail")
        mail = (
            f"{expect.template} to {expect.audience} {mail_at:.1f} s after the webhook"
            f" ({self.mail_path})"
            if mail_at is not None
            else f"no {expect.template} mail"
        )
        rounds = f" after {self._rounds} rounds" if self._rounds > 1 else ""
        return (
            f"{expect.label:<4} numero {self.numero}: {self._verdict_name or 'no verdict'}"
            f"{rounds} → {mail}; GTR {self._gtr_text or 'unknown'}"
        )
