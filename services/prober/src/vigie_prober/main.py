"""Composition root of the prober: ``vigie-prober [run|migrate|inventory|analyse]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from fastapi import APIRouter
from vigie_common import cli
from vigie_common.clock import SystemClock
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.worker import WorkerSpec, run_worker
from vigie_common.logs import configure_logging
from vigie_common.metrics import new_registry

from vigie_prober import analysis
from vigie_prober import inventory_command as inventory
from vigie_prober.consumer import handle
from vigie_prober.models import VERSION_TABLE, OutboxEvent, ProcessedEvent
from vigie_prober.settings import ProberSettings


def run(argv: Sequence[str] | None = None) -> None:
    """Parse the command, build the settings, and run, migrate or import the inventory."""
    parser = argparse.ArgumentParser(
        prog="vigie-prober", description="vigie prober. Configuration: VIGIE_* variables (README)."
    )
    commands = parser.add_subparsers(dest="command", metavar="{run,migrate,inventory,analyse}")
    commands.add_parser("run", help="consume tickets and serve the read API (the default)")
    commands.add_parser("migrate", help="apply the database migrations, then stop")
    inventory.add_arguments(commands.add_parser("inventory", help="import the inventory"))
    analysis.add_arguments(
        commands.add_parser("analyse", help="read a pasted router output and judge it (JSON)")
    )
    args = parser.parse_args(argv)
    args.command = args.command or "run"
    if args.command == "analyse":  # pure: no settings, no database
        streams = {"stdin": sys.stdin, "stdout": sys.stdout, "stderr": sys.stderr}
        raise SystemExit(analysis.run_analyse(args, **streams))
    settings = cli.load_settings(ProberSettings, prog="vigie-prober")
    if args.command == "inventory":
        url, now = settings.database_url, SystemClock().now()
        code = inventory.run_inventory(
            args, database_url=url, now=now, stdout=sys.stdout, stderr=sys.stderr
        )
        raise SystemExit(code)
    configure_logging(service="prober", level=settings.log_level, fmt=settings.log_format)
    if args.command == "migrate" or settings.migrate_on_start:
        cli.migrate(settings, package="vigie_prober", version_table=VERSION_TABLE)
        if args.command == "migrate":
            return
    spec = WorkerSpec(
        name="prober",
        topics=[TICKETS],
        inbox=ProcessedEvent,
        outbox=OutboxEvent,
        host=settings.host,
        port=settings.port,
        routes=APIRouter(prefix="/v1"),  # the prober's read endpoints arrive with its issue
    )
    asyncio.run(run_worker(settings, spec, handler=handle, registry=new_registry()))
