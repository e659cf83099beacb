"""One contender in a fresh process: ``python -m bench.prober.child CONTENDER INVENTORY …``.

A process of its own per contender, so its peak RSS and CPU are its own and no contender
runs on a loop or heap another one warmed. Imports and reading the inventory happen before
the clock starts. The last line on stdout is one JSON object: wall and CPU seconds, the
routers done and failed (with the first few reasons), peak RSS, and the contender's own
figures. Logs (vigie's, at INFO) go to stderr, which the harness keeps in a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from vigie_prober.drivers import get_driver

from bench.prober.fleet import Passwords, read_fleet
from bench.prober.outcome import Outcome, check_logs, summary
from bench.prober.settings import RunSettings
from bench.prober.stopwatch import Stopwatch

CONTENDERS: Final = ("vigie", "asyncssh", "scrapli", "netmiko")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The harness's arguments (passwords come in the environment, never here)."""
    parser = argparse.ArgumentParser(prog="python -m bench.prober.child")
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("inventory", type=Path)
    parser.add_argument("--routers", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--via-jump", action="store_true")
    parser.add_argument("--ping", choices=("prober", "jump_host", "none"), default="prober")
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--command-timeout", type=float, default=30.0)
    return parser.parse_args(argv)


def _quiet_libraries() -> None:
    """asyncssh and paramiko log every login at INFO: kept at WARNING for every contender."""
    for name in ("asyncssh", "paramiko", "netmiko", "scrapli"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _peak_rss_mb() -> float:
    """The process's peak resident set (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the contender on the first ``--routers`` routers; return its figures."""
    fleet = read_fleet(args.inventory)
    routers = fleet.first(args.routers)
    settings = RunSettings(
        concurrency=args.concurrency,
        workers=args.workers,
        via_jump=args.via_jump,
        ping=args.ping,
        connect_timeout=args.connect_timeout,
        command_timeout=args.command_timeout,
        passwords=Passwords.from_env(),
    )
    driver = get_driver(routers[0].driver)
    (command,) = driver.commands  # the peers send the driver's one command, as vigie does
    extra: dict[str, Any] = {}
    outcomes: list[Outcome]
    if args.contender == "vigie":
        from vigie_common.logs import configure_logging

        from bench.prober import vigie_probe

        configure_logging(service="bench-prober", level="INFO", fmt="json")
        _quiet_libraries()
        stopwatch = Stopwatch()
        outcomes = asyncio.run(vigie_probe.collect(routers, fleet, settings, stopwatch, extra))
    elif args.contender == "netmiko":
        from bench.prober import netmiko_peer

        _quiet_libraries()
        stopwatch = Stopwatch()
        outcomes = netmiko_peer.collect(routers, fleet, command, settings)
    else:
        from bench.prober import raw_asyncssh, scrapli_peer

        peer = raw_asyncssh if args.contender == "asyncssh" else scrapli_peer
        _quiet_libraries()
        stopwatch = Stopwatch()
        outcomes = asyncio.run(peer.collect(routers, fleet, command, settings))
    stopwatch.stop()
    if args.contender != "vigie":
        check_logs(outcomes, routers[0].driver)
    wall = stopwatch.wall_s or 0.0
    counts = summary(outcomes)
    return {
        "contender": args.contender,
        "path": "jump" if args.via_jump else "direct",
        "routers": len(routers),
        "concurrency": args.workers if args.contender == "netmiko" else args.concurrency,
        "wall_s": wall,
        "cpu_s": stopwatch.cpu_s,
        "per_s": counts["ok"] / wall if wall > 0 else None,
        **counts,
        "peak_rss_mb": _peak_rss_mb(),
        "command": command,
        **extra,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures as one JSON line; exit 1 only when the run itself broke."""
    figures = run(parse_args(argv))
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
