"""A consumer service (prober, notifier) run for real through ``run_worker``, in-process.

The worker is stopped through its ``stop`` event (finish the message in hand, commit, stop the
tasks, the API, the relay); ``service_checks.stops_and_releases_its_port`` cancels it instead,
as an orchestrator's hard stop would.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from vigie_common.cli import migrate
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.db.inbox import ProcessedEventMixin
from vigie_common.db.outbox import OutboxMixin
from vigie_common.events.envelope import CloudEvent, encode, new_event
from vigie_common.events.tickets import (
    TICKET_RECEIVED,
    CanonicalTicket,
    Site,
    TicketEvent,
    TicketState,
)
from vigie_common.events.topics import TICKETS
from vigie_common.kafka.consumer import Handler
from vigie_common.kafka.tansu import free_port
from vigie_common.kafka.worker import WorkerSpec, run_worker
from vigie_common.metrics import new_registry
from vigie_common.settings import ServiceSettings
from vigie_common.tasks import BackgroundTask

from tests.support.database import DatabaseFactory
from tests.support.kafka import produce

OPENED = datetime(2025, 5, 30, 7, 52, tzinfo=UTC)


@dataclass(frozen=True)
class Service:
    """What a consumer service's ``main`` wires into ``run_worker``."""

    name: str
    package: str
    settings_cls: type[ServiceSettings]
    handler: Handler
    inbox: type[ProcessedEventMixin]
    version_table: str
    outbox: type[OutboxMixin] | None = None


@dataclass
class RunningWorker:
    """A worker task, its settings and the registry its API serves."""

    service: Service
    spec: WorkerSpec
    settings: ServiceSettings
    registry: CollectorRegistry
    task: asyncio.Task[None]
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://{self.spec.host}:{self.spec.port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.base_url}/metrics"

    async def processed(self, event_id: str) -> ProcessedEventMixin | None:
        """The service's processed-event row of ``event_id``, read from its database."""
        engine = make_engine(self.settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                model = self.service.inbox
                return await session.scalar(select(model).where(model.event_id == event_id))
        finally:
            await engine.dispose()


def service_db(factory: DatabaseFactory, service: Service) -> str:
    """A fresh database migrated with the service's own migrations."""

    def apply(url: str) -> None:
        settings = service.settings_cls(database_url=url)
        migrate(settings, package=service.package, version_table=service.version_table)

    return factory.create(service.name, apply)


def ticket_received(*, event_type: str = TICKET_RECEIVED) -> CloudEvent[TicketEvent]:
    """A real ticket event about a ticket no other test uses."""
    ticket_id = f"tkt-test-{uuid.uuid4().hex}"
    ticket = CanonicalTicket(
        id=ticket_id,
        source="oceane",
        upstream_id=ticket_id.rsplit("-", 1)[1][:10],
        version=1,
        opened_at=OPENED,
        state=TicketState.OPEN,
        customer="RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
        commitment="GTR S2 240 mn Lundi au Samedi 8h à 18h",
        site_a=Site(code="INL_MOIRA_EVPN_LA1", city="MOIRANS"),
    )
    return new_event(
        type=event_type,
        source="/vigie/ingest",
        subject=ticket_id,
        data=TicketEvent(ticket=ticket),
        time=OPENED,
    )


async def publish(bootstrap: str, *events: CloudEvent[Any]) -> None:
    """On ``vigie.tickets.v1``, keyed by subject, as ingest's relay does."""
    await produce(
        bootstrap,
        TICKETS,
        [(e.subject, encode(e)) for e in events],
        headers=[("content-type", b"application/cloudevents+json")],
    )


async def metrics_text(url: str) -> str | None:
    """The page at ``url``, or None while it does not answer 200."""
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            answer = await client.get(url)
        except httpx.TransportError:
            return None
    return answer.text if answer.status_code == 200 else None


def port_is_free(host: str, port: int) -> bool:
    """True when a new server could listen on ``host:port`` (as the API does: with
    SO_REUSEADDR, so the TIME_WAIT of a closed scrape does not count as holding it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@asynccontextmanager
async def running_worker(
    service: Service,
    db_url: str,
    bootstrap: str,
    *,
    tasks: Sequence[BackgroundTask] = (),
    routes: APIRouter | None = None,
    **settings: Any,
) -> AsyncIterator[RunningWorker]:
    """``run_worker`` with a consumer group of this test's own (reads the topic from the start).

    ``settings`` override the service settings (``env``, ``read_token``, ``database_url``…).
    """
    values: dict[str, Any] = {
        "env": "test",
        "database_url": db_url,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_idempotence": False,
        "kafka_request_timeout_ms": 15_000,
        **settings,
    }
    service_settings = service.settings_cls(**values)
    # The group is ``vigie-<name>``: a unique name gives a unique group (and metric prefix).
    spec = WorkerSpec(
        name=f"{service.name}_{uuid.uuid4().hex[:12]}",
        topics=[TICKETS],
        inbox=service.inbox,
        outbox=service.outbox,
        host="127.0.0.1",
        port=free_port(),
        tasks=tasks,
        routes=routes,
        retry_backoff=0.2,
        max_retry_backoff=2.0,
        task_grace=2.0,
    )
    registry = new_registry()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(service_settings, spec, handler=service.handler, registry=registry, stop=stop)
    )
    worker = RunningWorker(service, spec, service_settings, registry, task, stop)
    try:
        yield worker
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)
