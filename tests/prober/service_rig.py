"""The prober service run for real, in-process: the lab, a migrated database, Tansu or Kafka.

The lab plays the seed (or given) scenarios on the real clock; its inventory is imported into
the prober's database as `vigie-prober inventory import` does; the prober's worker runs
through :func:`vigie_prober.main.serve` (the composition root), with the lab's credentials
given through a :class:`CredentialStore` over a mapping (``os.environ`` is never touched).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from vigie_common.cli import migrate
from vigie_common.clock import SystemClock
from vigie_common.db.engine import make_engine, make_sessionmaker, transaction
from vigie_common.events.envelope import CloudEvent, new_event
from vigie_common.events.tickets import (
    TICKET_RECEIVED,
    TICKET_UPDATED,
    CanonicalTicket,
    Site,
    TicketEvent,
    TicketState,
)
from vigie_common.kafka.tansu import free_port
from vigie_common.metrics import new_registry
from vigie_lab import Lab, LabScenarios, packaged_scenarios
from vigie_prober.credentials import CredentialStore
from vigie_prober.inventory_formats import read_inventory
from vigie_prober.inventory_store import import_inventory
from vigie_prober.main import serve
from vigie_prober.models import VERSION_TABLE
from vigie_prober.settings import ProberSettings

from tests.common.service_worker import publish
from tests.lab import ENV
from tests.prober.ssh_lab import CREDENTIALS
from tests.support.database import DatabaseFactory

OPENED = datetime(2025, 6, 16, 9, 40, tzinfo=UTC)


def prober_db(factory: DatabaseFactory) -> str:
    """A fresh database with the prober's migrations."""

    def apply(url: str) -> None:
        migrate(
            ProberSettings(database_url=url), package="vigie_prober", version_table=VERSION_TABLE
        )

    return factory.create("prober", apply)


async def import_lab_inventory(db_url: str, lab: Lab) -> None:
    """The running lab's inventory (actual ports) into the prober's tables."""
    inventory = read_inventory([lab.write_inventory()])
    engine = make_engine(db_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await import_inventory(
                session, inventory=inventory, now=datetime.now(UTC), dry_run=False
            )
    finally:
        await engine.dispose()


def ticket(
    *,
    ticket_id: str | None = None,
    state: TicketState = TicketState.OPEN,
    version: int = 1,
    site_a: str | None = "INL_MOIRA_EVPN_LA1",
    site_b: str | None = "INU_CONF5_EVPN_LA1",
    restored_at: datetime | None = None,
    product: str | None = "BES2",
) -> CanonicalTicket:
    """A canonical ticket naming lab sites (the seed's P2P link by default)."""
    tid = ticket_id or f"tkt-probe-{uuid.uuid4().hex[:12]}"
    return CanonicalTicket(
        id=tid,
        source="oceane",
        upstream_id=tid.rsplit("-", 1)[1],
        version=version,
        opened_at=OPENED,
        state=state,
        customer="RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
        site_a=Site(code=site_a) if site_a else None,
        site_b=Site(code=site_b) if site_b else None,
        restored_at=restored_at,
        product=product,
    )


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


@dataclass
class RunningProber:
    """A prober worker running in this process."""

    settings: ProberSettings
    registry: CollectorRegistry
    task: asyncio.Task[None]
    stop: asyncio.Event

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def get(self, path: str, **params: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            return await client.get(path, params=params)

    async def verdict(self, ticket_id: str) -> dict[str, Any] | None:
        """The read API's latest verdict of the ticket, None until there is one."""
        answer = await self.get(f"/v1/tickets/{ticket_id}/verdict")
        if answer.status_code != 200:
            return None
        body: dict[str, Any] = answer.json()
        return body if body["verdict"] is not None else None

    async def wait_verdict(
        self, ticket_id: str, *, within: float = 30.0, rounds: int = 1, final: bool = False
    ) -> dict[str, Any]:
        """The verdict once ``rounds`` rounds are done (and the last one, when ``final``)."""
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            found = await self.verdict(ticket_id)
            done = found is not None and found["plan"]["rounds_done"] >= rounds
            if found is not None and done and (found["final"] or not final):
                return found
            await asyncio.sleep(0.2)
        raise AssertionError(f"no verdict for {ticket_id} after {rounds} rounds in {within} s")

    async def wait_plan(self, ticket_id: str, *, outcome: str, within: float = 30.0) -> None:
        """Until the ticket's plan says ``outcome`` (``ticket closed``…)."""
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            answer = await self.get(f"/v1/tickets/{ticket_id}/verdict")
            if answer.status_code == 200 and answer.json()["plan"]["outcome"] == outcome:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the plan of {ticket_id} never said {outcome!r}")

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@asynccontextmanager
async def running_prober(
    db_url: str,
    bootstrap: str,
    lab: Lab,
    *,
    credentials: Mapping[str, str] = CREDENTIALS,
    **overrides: Any,
) -> AsyncIterator[RunningProber]:
    """``serve`` with a consumer group of the test's own; stopped (cleanly) on exit."""
    values: dict[str, Any] = {
        "env": "test",
        "database_url": db_url,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_idempotence": False,
        "kafka_request_timeout_ms": 15_000,
        "port": free_port(),
        "poll_interval_s": 0.2,
        "ssh": {"known_hosts_folder": lab.data_dir, "connect_timeout": 5.0, "command_timeout": 5.0},
        "ping_count": 2,
        **overrides,
    }
    settings = ProberSettings(**values)
    registry, stop = new_registry(), asyncio.Event()
    task = asyncio.create_task(
        serve(
            settings,
            clock=SystemClock(),
            stop=stop,
            credentials=CredentialStore(credentials),
            group_id=f"vigie-prober-test-{uuid.uuid4().hex[:10]}",
            registry=registry,
        )
    )
    prober = RunningProber(settings, registry, task, stop)
    try:
        await _ready(prober)
        yield prober
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _ready(prober: RunningProber, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if prober.task.done():
            prober.task.result()  # raises what stopped it
        try:
            if (await prober.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the prober did not become ready")


@asynccontextmanager
async def seed_lab(tmp_path: Path, scenarios: LabScenarios | None = None) -> AsyncIterator[Lab]:
    """The seed (or given) scenarios on the real clock, on ports the system picks."""
    chosen = scenarios or packaged_scenarios().with_any_ports()
    async with Lab.start(chosen, data_dir=tmp_path / "lab", env=ENV) as lab:
        yield lab


async def send(bootstrap: str, *values: CanonicalTicket) -> None:
    """Publish ticket events as ingest would."""
    await publish(bootstrap, *(ticket_event(v) for v in values))


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
