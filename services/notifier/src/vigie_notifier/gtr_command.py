"""``vigie-notifier gtr``: a commitment string and a ticket's times, answered by the GTR clock.

Technicians check a deadline the way the notifier computes it: the same contract reading, the
same site calendar (zone, public holidays, subdivision) and the same pauses. The answer is one
JSON object on stdout. Exit codes: 0 answered; 1 the commitment cannot be read (a JSON
``error`` names the part); 2 an argument cannot be used (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

from vigie_notifier.gtr import (
    DEFAULT_SITE,
    Outcome,
    Pause,
    Site,
    UnknownCalendar,
    deadline,
    outcome,
    resolve_site,
)
from vigie_notifier.gtr_contract import DAY_NAMES, CommitmentUnreadable, Contract, parse_commitment

__all__ = [
    "UnusableArgument",
    "add_arguments",
    "answer",
    "contract_json",
    "main",
    "parse_instant",
    "run_gtr",
]

PROG: Final = "vigie-notifier gtr"


class UnusableArgument(ValueError):
    """An argument that cannot be used: the message names it and says what it expects."""


def parse_instant(text: str, *, tz: tzinfo, name: str) -> datetime:
    """An ISO 8601 time; without an offset it is local to ``tz`` (the site's zone).

    Raises:
        UnusableArgument: ``text`` is not an ISO 8601 date or time.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UnusableArgument(
            f"{name} {text!r} is not an ISO 8601 time (e.g. 2025-05-30T09:52 or …+02:00)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _pause(text: str, *, tz: tzinfo) -> Pause:
    begin, slash, end = text.partition("/")
    if not slash:
        raise UnusableArgument(f"--pause {text!r} is not START/END (two ISO 8601 times)")
    pause = Pause(
        parse_instant(begin, tz=tz, name="--pause"), parse_instant(end, tz=tz, name="--pause")
    )
    if pause.end < pause.start:
        raise UnusableArgument(f"--pause {text!r} ends before it starts")
    return pause


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def contract_json(contract: Contract, site: Site) -> dict[str, Any]:
    """The contract as the command prints it and the read API shows it."""
    schedule = contract.schedule
    return {
        "class": contract.service_class,
        "budget_minutes": contract.budget_minutes,
        "schedule": {
            "days": [DAY_NAMES[day] for day in schedule.days],
            "opens": _hhmm(schedule.opens),
            "closes": _hhmm(schedule.closes),
            "skips_public_holidays": schedule.skips_public_holidays,
            "around_the_clock": schedule.around_the_clock,
        },
        "tz": site.tz,
        "country": site.country,
        "subdiv": site.subdiv,
    }


def _outcome(record: Outcome, restored_at: datetime, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "restored_at": restored_at.astimezone(zone).isoformat(),
        "business_minutes_used": record.business_minutes_used,
        "met": record.met,
        "margin_minutes": record.margin_minutes,
    }


def answer(
    contract: Contract,
    start: datetime,
    *,
    site: Site = DEFAULT_SITE,
    pauses: Sequence[Pause] = (),
    restored_at: datetime | None = None,
) -> dict[str, Any]:
    """The command's JSON answer, as a dict; instants in the site's zone with its offset.

    Raises:
        UnknownCalendar: the site's zone, country or subdivision is not known.
    """
    site = resolve_site(site)
    zone = ZoneInfo(site.tz)
    result: dict[str, Any] = {
        "contract": contract_json(contract, site),
        "start": start.astimezone(zone).isoformat(),
    }
    if restored_at is None:
        due = deadline(contract, start, site=site, pauses=pauses)
        result["deadline"] = due.astimezone(zone).isoformat()
        return result
    record = outcome(contract, start, site=site, pauses=pauses, restored_at=restored_at)
    result["deadline"] = record.deadline.astimezone(zone).isoformat()
    result["outcome"] = _outcome(record, restored_at, zone)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gtr``, for the notifier's command line."""
    parser.add_argument("commitment", help="e.g. 'GTR S2 240 mn Lundi au Samedi 8h à 18h'")
    parser.add_argument("--start", required=True, help="the ticket's creation (ISO 8601)")
    parser.add_argument("--tz", default=DEFAULT_SITE.tz, help="the site's zone (%(default)s)")
    parser.add_argument(
        "--country", default=DEFAULT_SITE.country, help="public holidays of (%(default)s)"
    )
    parser.add_argument("--subdiv", help="holidays subdivision code, e.g. 57 (Moselle), 972")
    parser.add_argument(
        "--pause",
        action="append",
        default=[],
        metavar="START/END",
        help="a freeze of the clock (ISO 8601 / ISO 8601); repeatable",
    )
    parser.add_argument("--restored", help="restoration time (ISO 8601): adds the outcome")


def _arguments(args: argparse.Namespace) -> tuple[Site, datetime, list[Pause], datetime | None]:
    """The site, start, pauses and restoration, checked.

    Raises:
        UnusableArgument: a time, pause, zone, country or subdivision that cannot be used.
    """
    try:
        site = resolve_site(Site(tz=args.tz, country=args.country, subdiv=args.subdiv))
    except UnknownCalendar as exc:
        raise UnusableArgument(f"--{exc.field}: {exc}") from None
    zone = ZoneInfo(site.tz)
    start = parse_instant(args.start, tz=zone, name="--start")
    pauses = [_pause(text, tz=zone) for text in args.pause]
    restored = None
    if args.restored is not None:
        restored = parse_instant(args.restored, tz=zone, name="--restored")
        if restored < start:
            raise UnusableArgument(f"--restored {args.restored!r} is before --start")
    return site, start, pauses, restored


def run_gtr(args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO) -> int:
    """Answer one ``gtr`` command: 0 answered, 1 unreadable commitment, 2 unusable argument."""
    try:
        site, start, pauses, restored = _arguments(args)
    except UnusableArgument as exc:
        stderr.write(f"{PROG}: {exc}\n")
        return 2
    try:
        contract = parse_commitment(args.commitment)
    except CommitmentUnreadable as exc:
        error = {"error": str(exc), "part": exc.part, "commitment": exc.commitment}
        stdout.write(json.dumps(error, ensure_ascii=False, indent=2) + "\n")
        return 1
    result = answer(contract, start, site=site, pauses=pauses, restored_at=restored)
    stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``vigie-notifier gtr`` alone (the notifier's ``main`` offers the same subcommand)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_gtr(args, stdout=sys.stdout, stderr=sys.stderr)
