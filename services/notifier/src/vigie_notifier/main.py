"""Composition root of the notifier: ``vigie-notifier [run|migrate]``, configured by ``VIGIE_*``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from fastapi import APIRouter
from vigie_common import cli
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.worker import WorkerSpec, run_worker
from vigie_common.logs import configure_logging
from vigie_common.metrics import new_registry

from vigie_notifier import gtr_command, render_command
from vigie_notifier.consumer import handle
from vigie_notifier.models import VERSION_TABLE, OutboxEvent, ProcessedEvent
from vigie_notifier.settings import NotifierSettings


def run(argv: Sequence[str] | None = None) -> None:
    """Parse the command, build the settings, and run, migrate, compute a GTR or render."""
    parser = argparse.ArgumentParser(
        prog="vigie-notifier",
        description="vigie notifier. Configuration: VIGIE_* variables (README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="{run,migrate,gtr,render}")
    commands.add_parser("run", help="consume events, send notifications (the default)")
    commands.add_parser("migrate", help="apply the database migrations, then stop")
    gtr_command.add_arguments(
        commands.add_parser("gtr", help="a commitment's GTR deadline and outcome (JSON)")
    )
    render_command.add_arguments(
        commands.add_parser("render", help="render a template for a ticket (and a form)")
    )
    args = parser.parse_args(argv)
    args.command = args.command or "run"
    if args.command == "gtr":  # pure: no settings, no database
        raise SystemExit(gtr_command.run_gtr(args, stdout=sys.stdout, stderr=sys.stderr))
    settings = cli.load_settings(NotifierSettings, prog="vigie-notifier")
    if args.command == "render":
        code = render_command.run_render(
            args,
            stdout=sys.stdout,
            stderr=sys.stderr,
            operator=settings.operator,
            templates=settings.templates_dir,
            default_zone=settings.default_timezone,
        )
        raise SystemExit(code)
    configure_logging(service="notifier", level=settings.log_level, fmt=settings.log_format)
    if args.command == "migrate" or settings.migrate_on_start:
        cli.migrate(settings, package="vigie_notifier", version_table=VERSION_TABLE)
        if args.command == "migrate":
            return
    spec = WorkerSpec(
        name="notifier",
        topics=[TICKETS],
        inbox=ProcessedEvent,
        outbox=OutboxEvent,
        host=settings.host,
        port=settings.port,
        routes=APIRouter(prefix="/v1"),  # the notifier's read endpoints arrive with its issue
    )
    asyncio.run(run_worker(settings, spec, handler=handle, registry=new_registry()))
