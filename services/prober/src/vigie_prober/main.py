"""Composition root of the prober: ``vigie-prober [run|migrate|inventory|analyse]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from vigie_common import cli
from vigie_common.clock import Clock, SystemClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.worker import WorkerSpec, run_worker
from vigie_common.logs import configure_logging
from vigie_common.metrics import new_registry
from vigie_common.runtime import settle_heap

from vigie_prober import analysis
from vigie_prober import inventory_command as inventory
from vigie_prober.api import make_routes
from vigie_prober.consumer import make_handler
from vigie_prober.credentials import CredentialStore
from vigie_prober.metrics import ProberMetrics
from vigie_prober.models import VERSION_TABLE, OutboxEvent, ProcessedEvent
from vigie_prober.scheduler import Scheduler
from vigie_prober.settings import ProberSettings


def run(argv: Sequence[str] | None = None) -> None:
    """Parse the command, build the settings, and run, migrate or import the inventory."""
    parser = argparse.ArgumentParser(
        prog="vigie-prober", description="vigie prober. Configuration: VIGIE_* variables (README)."
    )
    commands = parser.add_subparsers(dest="command", metavar="{run,migrate,inventory,analyse}")
    commands.add_parser("run", help="consume tickets, probe routers, serve the read API (default)")
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
    clock = SystemClock()
    if args.command == "inventory":
        code = inventory.run_inventory(
            args,
            database_url=settings.database_url,
            now=clock.now(),
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
        raise SystemExit(code)
    configure_logging(service="prober", level=settings.log_level, fmt=settings.log_format)
    if args.command == "migrate" or settings.migrate_on_start:
        cli.migrate(settings, package="vigie_prober", version_table=VERSION_TABLE)
        if args.command == "migrate":
            return
    if settings.inventory_file is not None:
        imported = inventory.run_inventory(
            argparse.Namespace(files=[settings.inventory_file], dry_run=False, json=False),
            database_url=settings.database_url,
            now=clock.now(),
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
        if imported != 0:
            raise SystemExit(imported)
    settle_heap(settings.gc_thresholds)  # a fleet's probes allocate many short-lived objects
    asyncio.run(serve(settings, clock=clock))


async def serve(
    settings: ProberSettings,
    *,
    clock: Clock,
    stop: asyncio.Event | None = None,
    credentials: CredentialStore | None = None,
    group_id: str | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """The worker: consume loop, scheduler task, outbox relay and read API, until stopped.

    Args:
        settings: The prober's settings.
        clock: Where time comes from.
        stop: Stop when set (no signal handlers then); None: on SIGTERM / Ctrl-C.
        credentials: Where credentials profiles are read (default: the environment).
        group_id: The consumer group (default ``vigie-prober``).
        registry: Where the metrics are registered (default: a new one).
    """
    engine = make_engine(settings.database_url, echo=settings.database_echo)
    try:
        sessions = make_sessionmaker(engine)
        registry = registry or new_registry()
        scheduler = Scheduler(settings, metrics=ProberMetrics(registry), credentials=credentials)
        spec = WorkerSpec(
            name="prober",
            topics=[TICKETS],
            inbox=ProcessedEvent,
            outbox=OutboxEvent,
            host=settings.host,
            port=settings.port,
            group_id=group_id,
            tasks=[scheduler.task()],
            routes=make_routes(sessions),
        )
        handler = make_handler(clock=clock, observation=settings.observation)
        await run_worker(
            settings,
            spec,
            handler=handler,
            registry=registry,
            clock=clock,
            sessions=sessions,
            stop=stop,
        )
    finally:
        await engine.dispose()
