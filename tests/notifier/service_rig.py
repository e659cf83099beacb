"""The notifier service run for real, in-process: a migrated database, Tansu or Kafka, and the
lab's SMTP and SMS sinks standing in for the team's relay and gateway.

The worker runs through :func:`vigie_notifier.main.serve` with the rules, templates, teams
and delivery settings :func:`~vigie_notifier.main.build_notify` and
:func:`~vigie_notifier.main.build_channels` make from its settings, as ``vigie-notifier run``
does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from vigie_common.cli import migrate
from vigie_common.clock import SystemClock
from vigie_common.db.engine import make_engine, make_sessionmaker, transaction
from vigie_common.events.envelope import CloudEvent, encode, new_event
from vigie_common.events.probes import VERDICT_REACHED, VerdictReached
from vigie_common.events.tickets import (
    TICKET_RECEIVED,
    TICKET_UPDATED,
    CanonicalTicket,
    TicketEvent,
    TicketState,
)
from vigie_common.events.topics import TICKETS, VERDICTS
from vigie_common.kafka.tansu import free_port
from vigie_common.metrics import new_registry
from vigie_lab import MailSink, SmsSink
from vigie_notifier.contacts_formats import read_contacts
from vigie_notifier.contacts_store import import_contacts
from vigie_notifier.main import build_channels, build_notify, serve
from vigie_notifier.models import VERSION_TABLE
from vigie_notifier.settings import NotifierSettings

from tests.support.database import DatabaseFactory
from tests.support.kafka import produce

SMS_TOKEN = "sms-gateway-test-token-0123456789"
CUSTOMER = "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE"
CONTACTS = f"""\
customers:
  - name: {CUSTOMER}
    recipients: >-
      DUPONT Jean, 06 12 34 56 78, jean.dupont@example.com;
      MARTIN Léa, , lea.martin@example.com
    channel: both
"""
TEAMS = {
    "support": "SUPPORT N2, , support-n2@example.com;",
    "field": "EQUIPE TERRAIN, , terrain@example.com;",
    "escalation": "ESCALADE SAV, , escalade@example.com;",
}


def notifier_db(factory: DatabaseFactory) -> str:
    """A fresh database with the notifier's migrations."""

    def apply(url: str) -> None:
        settings = NotifierSettings(database_url=url)
        migrate(settings, package="vigie_notifier", version_table=VERSION_TABLE)

    return factory.create("notifier", apply)


async def import_contact_file(db_url: str, tmp_path: Path, text: str = CONTACTS) -> None:
    """The contacts file into the notifier's table, as `vigie-notifier contacts import`."""
    path = tmp_path / "contacts.yaml"
    path.write_text(text, encoding="utf-8")
    engine = make_engine(db_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await import_contacts(session, contacts=read_contacts([path]), now=datetime.now(UTC))
    finally:
        await engine.dispose()


@dataclass
class RunningNotifier:
    """A notifier worker running in this process."""

    settings: NotifierSettings
    registry: CollectorRegistry
    task: asyncio.Task[None]
    stop: asyncio.Event

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def get(self, path: str, **params: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            return await client.get(path, params=params)

    async def json(self, path: str, **params: Any) -> Any:
        answer = await self.get(path, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@asynccontextmanager
async def running_notifier(
    db_url: str, bootstrap: str, mail: MailSink, sms: SmsSink | None, **overrides: Any
) -> AsyncIterator[RunningNotifier]:
    """``serve`` with a consumer group of the test's own; stopped (cleanly) on exit."""
    values: dict[str, Any] = {
        "env": "test",
        "database_url": db_url,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_idempotence": False,
        "kafka_request_timeout_ms": 15_000,
        "port": free_port(),
        "operator": "ORANGE",
        "message_domain": "vigie.test",
        "smtp": {
            "host": "127.0.0.1",
            "port": mail.port,
            "security": "none",
            "from_address": "sav@vigie.test",
        },
        "teams": TEAMS,
        "send_poll_interval_s": 0.1,
        "retry_backoff_s": 0.2,
        "max_retry_backoff_s": 1.0,
        "watch_interval_s": 0.2,
        **overrides,
    }
    if sms is not None:
        values.setdefault("sms", {"url": sms.url, "token": SMS_TOKEN})
    settings = NotifierSettings(**values)
    registry, stop = new_registry(), asyncio.Event()
    task = asyncio.create_task(
        serve(
            settings,
            deps=build_notify(settings),
            channels=build_channels(settings),
            clock=SystemClock(),
            stop=stop,
            group_id=f"vigie-notifier-test-{uuid.uuid4().hex[:10]}",
            registry=registry,
        )
    )
    notifier = RunningNotifier(settings, registry, task, stop)
    try:
        await _ready(notifier)
        yield notifier
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _ready(notifier: RunningNotifier, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if notifier.task.done():
            notifier.task.result()
        try:
            if (await notifier.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the notifier did not become ready")


def ticket_event(
    value: CanonicalTicket, *, previous: TicketState | None = None
) -> CloudEvent[TicketEvent]:
    """The ingest event carrying ``value``."""
    return new_event(
        type=TICKET_RECEIVED if value.version == 1 else TICKET_UPDATED,
        source="/vigie/ingest",
        subject=value.id,
        data=TicketEvent(ticket=value, previous_state=previous),
        time=datetime.now(UTC),
    )


def verdict_event(value: VerdictReached) -> CloudEvent[VerdictReached]:
    """The prober's event carrying ``value``."""
    return new_event(
        type=VERDICT_REACHED,
        source="/vigie/prober",
        subject=value.ticket_id,
        data=value,
        time=datetime.now(UTC),
    )


async def publish(bootstrap: str, topic: str, *events: CloudEvent[Any]) -> None:
    """Events on ``topic``, keyed by subject, as the services' relays publish them."""
    await produce(
        bootstrap,
        topic,
        [(e.subject, encode(e)) for e in events],
        headers=[("content-type", b"application/cloudevents+json")],
    )


async def send_ticket(bootstrap: str, *events: CloudEvent[TicketEvent]) -> None:
    await publish(bootstrap, TICKETS, *events)


async def send_verdict(bootstrap: str, *events: CloudEvent[VerdictReached]) -> None:
    await publish(bootstrap, VERDICTS, *events)


async def until(
    check: Callable[[], Awaitable[bool] | bool], *, within: float = 20.0, every: float = 0.1
) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within} s")
