"""What one contender got from each router, checked the same way for all of them.

A peer counts a router as done only when the alarm log it brought back is the lab's: after
the clock stops, vigie's own RAD driver reads every output and must find the log's events.
Checking after the clock keeps the peers' timed work to what the spec gives them (collect
the log); vigie's probe parses and judges inside its own time, as it does in production.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from vigie_prober.drivers import get_driver

REASONS_SHOWN: Final = 5
EXPECTED_EVENTS: Final = 4
"""Events in a lab fleet router's log: every one is ``stable`` with one cut, printed as four
records (LOC and RDI raised, then cleared: ``vigie_lab.drivers.rad_etx``)."""


@dataclass
class Outcome:
    """One router: its output (peers) or verdict (vigie), and why it failed if it did."""

    hostname: str
    ok: bool
    reason: str = ""
    output: str = ""
    timezone: str = "UTC"


def check_logs(outcomes: list[Outcome], driver: str) -> None:
    """Fail every collected output in which the driver does not find the whole log."""
    reader = get_driver(driver)
    now = datetime.now(UTC)
    for outcome in outcomes:
        if not outcome.ok:
            continue
        parsed = reader.parse(outcome.output, tz=ZoneInfo(outcome.timezone), now=now)
        if len(parsed.events) != EXPECTED_EVENTS:
            outcome.ok = False
            outcome.reason = (
                f"log incomplete: {len(parsed.events)} of {EXPECTED_EVENTS} events"
                f" in {len(outcome.output)} chars of output"
            )


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts, the most common failure reasons, and the first few failures by router."""
    failed = [o for o in outcomes if not o.ok]
    kinds = Counter(o.reason.split(":", 1)[0][:80] for o in failed)
    return {
        "ok": len(outcomes) - len(failed),
        "failed": len(failed),
        "failure_kinds": dict(kinds.most_common(REASONS_SHOWN)),
        "failures": [f"{o.hostname}: {o.reason[:200]}" for o in failed[:REASONS_SHOWN]],
    }
