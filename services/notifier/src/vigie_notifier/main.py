"""Composition root of the notifier: ``vigie-notifier [run|migrate|contacts|gtr|render]``."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from vigie_common import cli
from vigie_common.clock import Clock, SystemClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.db.leases import lease_owner_name
from vigie_common.events.topics import TICKETS, VERDICTS
from vigie_common.kafka.worker import WorkerSpec, run_worker
from vigie_common.logs import configure_logging
from vigie_common.metrics import new_registry
from vigie_common.runtime import settle_heap

from vigie_notifier import contacts_command, gtr_command, render_command
from vigie_notifier.api import make_routes
from vigie_notifier.clocks import ClockPlace
from vigie_notifier.consumer import make_handler
from vigie_notifier.mailer import MailSettings
from vigie_notifier.metrics import NotifierMetrics
from vigie_notifier.models import VERSION_TABLE, OutboxEvent, ProcessedEvent
from vigie_notifier.recipients import parse_recipients
from vigie_notifier.rendering import TemplateError, load_renderer
from vigie_notifier.rules import Audience, RulesInvalid, load_rules
from vigie_notifier.sender import Channels, Sender
from vigie_notifier.service import Notify, Team
from vigie_notifier.settings import NotifierSettings
from vigie_notifier.sms_gateway import SmsSettings
from vigie_notifier.watcher import Watcher


def run(argv: Sequence[str] | None = None) -> None:
    """Parse the command, build the settings, and run, migrate, compute a GTR or render."""
    parser = argparse.ArgumentParser(
        prog="vigie-notifier",
        description="vigie notifier. Configuration: VIGIE_* variables (README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="{run,migrate,contacts,gtr,render}")
    commands.add_parser("run", help="consume events, send notifications (the default)")
    commands.add_parser("migrate", help="apply the database migrations, then stop")
    contacts_command.add_arguments(
        commands.add_parser("contacts", help="import the customers' contacts")
    )
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
    clock = SystemClock()
    if args.command == "contacts":
        raise SystemExit(_contacts(args, settings.database_url, clock.now()))
    try:
        deps = build_notify(settings)
        channels = build_channels(settings)
    except StartupRefused as exc:
        sys.stderr.write(f"vigie-notifier: {exc}\n")
        raise SystemExit(2) from None
    if settings.contacts_file is not None:
        imported = _contacts(
            argparse.Namespace(files=[settings.contacts_file], dry_run=False, json=False),
            settings.database_url,
            clock.now(),
        )
        if imported != 0:
            raise SystemExit(imported)
    settle_heap(settings.gc_thresholds)
    asyncio.run(serve(settings, deps=deps, channels=channels, clock=clock))


def _contacts(args: argparse.Namespace, database_url: str, now: datetime) -> int:
    return contacts_command.run_contacts(
        args, database_url=database_url, now=now, stdout=sys.stdout, stderr=sys.stderr
    )


class StartupRefused(Exception):
    """A setting, the rules or the templates cannot be used: the message says which."""


def build_notify(settings: NotifierSettings) -> Notify:
    """Rules, templates and teams, checked together before anything starts.

    A rule naming a missing template, a template using an undeclared field, a bad team list
    stop the start with their name.

    Raises:
        StartupRefused: what cannot be used, named.
    """
    try:
        rules = load_rules(settings.rules_file)
        renderer = load_renderer(settings.templates_dir)
    except (RulesInvalid, TemplateError) as exc:
        raise StartupRefused(str(exc)) from None
    missing = sorted(code for code in rules.codes() if code not in renderer.catalogue.specs)
    if missing:
        raise StartupRefused(
            f"the rules ({rules.source}) send templates the catalogue lacks: {missing}"
        )
    teams = {
        Audience.SUPPORT: settings.teams.support,
        Audience.FIELD: settings.teams.field,
        Audience.ESCALATION: settings.teams.escalation,
    }
    return Notify(
        rules=rules,
        renderer=renderer,
        teams={
            audience: Team(tuple(parse_recipients(text)) if text.strip() else ())
            for audience, text in teams.items()
        },
        operator=settings.operator,
        default_zone=settings.default_timezone,
        message_domain=settings.message_domain,
        place=ClockPlace(
            tz=settings.default_timezone,
            country=settings.default_country,
            subdiv=settings.default_subdiv,
        ),
    )


def build_channels(settings: NotifierSettings) -> Channels:
    """The SMTP relay and the SMS gateway as the delivery edges take them.

    Raises:
        StartupRefused: a setting the edges refuse (a bad address, an unreadable file).
    """
    smtp, sms = settings.smtp, settings.sms
    try:
        mail = MailSettings(
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=smtp.secret(),
            from_address=smtp.from_address,
            from_name=smtp.from_name,
            timeout=smtp.timeout_s,
            ca_file=smtp.ca_file,
            # Asked once here: left unset, every SMTP connection asks the system in a thread.
            local_hostname=smtp.ehlo_name or _ehlo_name(),
        )
        gateway = None
        if sms.url:
            gateway = SmsSettings(
                url=sms.url, token=sms.token, token_file=sms.token_file, timeout=sms.timeout_s
            )
    except (ValidationError, OSError) as exc:
        raise StartupRefused(f"delivery settings: {exc}") from None
    return Channels(mail=mail, sms=gateway)


def _ehlo_name() -> str | None:
    """This host's name as EHLO gives it, when it is a plain host name (else aiosmtplib's)."""
    name = socket.getfqdn()
    try:
        probe = MailSettings(
            host="localhost", from_address="vigie@example.com", local_hostname=name
        )
    except ValidationError:
        return None
    return probe.local_hostname


async def serve(
    settings: NotifierSettings,
    *,
    deps: Notify,
    channels: Channels,
    clock: Clock,
    stop: asyncio.Event | None = None,
    group_id: str | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """The worker: consume loop, sender and watcher tasks, relay and read API, until stopped."""
    # Every send in flight holds a connection to record its result, beside the consume loop,
    # the relay and the watcher: a pool smaller than that churns connections.
    pool = max(10, settings.send_concurrency + 5)
    engine = make_engine(settings.database_url, echo=settings.database_echo, pool_size=pool)
    try:
        sessions = make_sessionmaker(engine)
        registry = registry or new_registry()
        metrics = NotifierMetrics(registry)
        owner = lease_owner_name()
        sender = Sender(
            channels,
            metrics=metrics,
            owner=owner,
            concurrency=settings.send_concurrency,
            poll_interval_s=settings.send_poll_interval_s,
            lease_s=settings.send_lease_s,
            retry_backoff_s=settings.retry_backoff_s,
            max_retry_backoff_s=settings.max_retry_backoff_s,
        )
        watcher = Watcher(
            deps, metrics=metrics, owner=owner, poll_interval_s=settings.watch_interval_s
        )
        spec = WorkerSpec(
            name="notifier",
            topics=[TICKETS, VERDICTS],
            inbox=ProcessedEvent,
            outbox=OutboxEvent,
            host=settings.host,
            port=settings.port,
            group_id=group_id,
            tasks=[sender.task(), watcher.task()],
            routes=make_routes(sessions),
            batch_size=settings.consume_batch,
            on_processed=sender.wake,
        )
        handler = make_handler(deps=deps, clock=clock, metrics=metrics)
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
