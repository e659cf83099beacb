"""``vigie-prober analyse``: a pasted router output read and judged the way the prober does.

Technicians paste what a router printed and get the same answer the service would give:
the driver's parser, then the same dampening and the same verdict rules (``flaps``,
``verdicts``). The answer is one JSON object; the exit code is 0 whenever a verdict was
produced (``inconclusive`` included) and 2 when the arguments cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

from vigie_common.zones import UnknownZone, load_zone

from vigie_prober.drivers import DRIVERS, get_driver
from vigie_prober.flaps import DEFAULT_POLICY, penalty_at
from vigie_prober.schemas import AlarmEvent
from vigie_prober.verdicts import judge_device

__all__ = ["UnusableArgument", "add_arguments", "analyse", "parse_instant", "run_analyse"]

DEFAULT_TZ: Final = "Europe/Paris"
MAX_PASTE_BYTES: Final = 64 * 1024 * 1024
"""A paste larger than this is refused (a router's log buffer is far smaller)."""


class UnusableArgument(ValueError):
    """An argument that cannot be used: the message names it and says what it expects."""


def parse_instant(text: str, *, tz: ZoneInfo, name: str) -> datetime:
    """An ISO 8601 time; without an offset it is local to ``tz`` (the device's zone).

    Raises:
        UnusableArgument: ``text`` is not an ISO 8601 date or time.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UnusableArgument(
            f"{name} {text!r} is not an ISO 8601 time (e.g. 2025-06-19T09:30 or …+02:00)"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _zone(name: str) -> ZoneInfo:
    try:
        return load_zone(name)
    except UnknownZone:
        raise UnusableArgument(
            f"--tz {name!r} is not a known time zone (e.g. Europe/Paris)"
        ) from None


def _event(event: AlarmEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "alarm": event.alarm,
        "source": event.source,
        "severity": event.severity,
        "kind": event.kind.value,
        "link": event.link,
        "device": event.device,
    }


def analyse(
    text: str, *, driver: str, tz: ZoneInfo, now: datetime, since: datetime | None = None
) -> dict[str, Any]:
    """Parse ``text`` with ``driver`` and judge it at ``now``: the JSON answer, as a dict."""
    parsed = get_driver(driver).parse(text, tz=tz, now=now)
    verdict = judge_device(parsed, now=now, since=since)
    return {
        "driver": driver,
        "events": [_event(e) for e in parsed.events],
        "flaps": verdict.flaps,
        "penalty": round(penalty_at(parsed.events, now=now, policy=DEFAULT_POLICY), 1),
        "stable_since": verdict.stable_since.isoformat() if verdict.stable_since else None,
        "verdict": verdict.verdict.value,
        "reason": verdict.reason,
        "unparsed": list(parsed.unparsed),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``analyse``, for the prober's command line."""
    parser.add_argument("--driver", required=True, choices=sorted(DRIVERS))
    parser.add_argument("--tz", default=DEFAULT_TZ, help="the device's zone (%(default)s)")
    parser.add_argument("--since", help="count flaps from this time (ISO 8601), e.g. the repair")
    parser.add_argument("--now", help="judge at this time (ISO 8601; default: now)")
    parser.add_argument("file", help="the pasted output, or - for standard input")


def _read(name: str, stdin: TextIO) -> str:
    if name == "-":
        return stdin.read(MAX_PASTE_BYTES + 1)[:MAX_PASTE_BYTES]
    path = Path(name)
    try:
        if path.stat().st_size > MAX_PASTE_BYTES:
            raise UnusableArgument(f"{name} is over {MAX_PASTE_BYTES // 2**20} MiB")
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UnusableArgument(f"cannot read {name}: {exc.strerror}") from None


def run_analyse(args: argparse.Namespace, *, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Answer one ``analyse`` command; 2 with one line on stderr when an argument is unusable."""
    try:
        tz = _zone(args.tz)
        now = parse_instant(args.now, tz=tz, name="--now") if args.now else datetime.now(tz)
        since = parse_instant(args.since, tz=tz, name="--since") if args.since else None
        text = _read(args.file, stdin)
    except UnusableArgument as exc:
        stderr.write(f"vigie-prober analyse: {exc}\n")
        return 2
    answer = analyse(text, driver=args.driver, tz=tz, now=now, since=since)
    stdout.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``vigie-prober analyse`` alone (the prober's ``main`` offers the same subcommand)."""
    parser = argparse.ArgumentParser(prog="vigie-prober analyse")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_analyse(args, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr)
