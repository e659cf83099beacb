"""The whole chain, each service killed (SIGKILL) and restarted once during a run of 50 tickets.

Ingest, prober and notifier run as processes on PostgreSQL and a broker of the test's own;
the lab's routers and jump host and the SMTP sink run in the test. An upstream posts 50
signed Oceane webhooks (tickets restored), retrying each until ingest answers 202, as a
ticketing system does. Ingest is killed after 15 tickets, the prober once verdicts flow, the
notifier once mails flow; each comes back on the same database and broker.

Nothing lost: every ticket's CLT 5 mail arrives. Nothing doubled: each ticket has one
Message-ID and one final verdict event; a notifier killed between the relay's ``250`` and its
record sends that mail again under the same Message-ID (at least once, never a second
distinct mail): those repeats are counted and bounded by the sends in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx
import pytest
from vigie_common.events.topics import TICKETS, VERDICTS
from vigie_common.kafka.tansu import EmbeddedBroker, free_port
from vigie_lab import MailSink

from tests.notifier.notifier_process import notifier_processes
from tests.notifier.service_rig import import_contact_file, notifier_db
from tests.prober.prober_process import all_records, prober_processes
from tests.prober.service_rig import import_lab_inventory, prober_db, seed_lab
from tests.support import builders
from tests.support.builders import encode, signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db
from tests.support.ingest_process import ingest_environment
from tests.support.worker_process import WorkerProcess, Workers, worker_processes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

log = logging.getLogger(__name__)

TICKET_COUNT = 50
CONCURRENCY = 10
CUSTOMER = "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE"
CONTACTS = f"""\
customers:
  - name: {CUSTOMER}
    recipients: "DUPONT Jean, , jean.dupont@example.com;"
    channel: mail
"""
PROBER_ENV = {
    "VIGIE_PROBER_OBSERVATION__INTERVAL_S": "2",
    "VIGIE_PROBER_OBSERVATION__WINDOW_S": "4",
    "VIGIE_PROBER_LEASE_S": "5",
}


async def until(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {within} s")


class Upstream:
    """A ticketing system: posts each webhook until ingest takes it (202)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted: dict[str, str] = {}
        """Ticket number → vigie's ticket id."""
        self.refused_attempts = 0

    async def post_all(self, payloads: list[dict[str, object]], *, every: float) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=5, trust_env=False) as client:
            for payload in payloads:
                body = encode(payload)
                while True:
                    try:
                        answer = await client.post(
                            "/v1/webhooks/oceane", content=body, headers=signed_headers(body)
                        )
                        if answer.status_code == 202:
                            self.accepted[str(payload["numero"])] = answer.json()["ticket_id"]
                            break
                    except httpx.HTTPError:
                        pass
                    self.refused_attempts += 1
                    await asyncio.sleep(0.2)
                await asyncio.sleep(every)


async def test_every_service_killed_once_loses_nothing_and_doubles_nothing(
    postgres_factory: DatabaseFactory, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    await own_broker.start()
    bootstrap = own_broker.bootstrap_servers
    dbs = {
        "ingest": ingest_db(postgres_factory),
        "prober": prober_db(postgres_factory),
        "notifier": notifier_db(postgres_factory),
    }
    await import_contact_file(dbs["notifier"], tmp_path, CONTACTS)
    payloads: list[dict[str, object]] = [
        builders.oceane(dernier_etat="Rétabli") for _ in range(TICKET_COUNT)
    ]
    numbers = {str(p["numero"]) for p in payloads}
    ingest_port = free_port()
    kills: dict[str, float] = {}

    def ingest_env(port: int, extra: Mapping[str, str]) -> dict[str, str]:
        return ingest_environment(dbs["ingest"], bootstrap, port, **extra)

    began = time.monotonic()
    async with (
        seed_lab(tmp_path) as lab,
        MailSink.start(tmp_path / "mail") as mail,
    ):
        await import_lab_inventory(dbs["prober"], lab)
        notifier_env = {
            "VIGIE_NOTIFIER_SMTP__PORT": str(mail.port),
            "VIGIE_NOTIFIER_SMTP__TIMEOUT_S": "2.5",
            "VIGIE_NOTIFIER_SEND_LEASE_S": "5",
            "VIGIE_NOTIFIER_SEND_CONCURRENCY": str(CONCURRENCY),
        }
        ingests = Workers(
            "ingest", ingest_env, log_dir=tmp_path, kind=WorkerProcess, command="serve"
        )
        async with (
            worker_processes(ingests),
            prober_processes(dbs["prober"], bootstrap, lab, tmp_path, env=PROBER_ENV) as probers,
            notifier_processes(dbs["notifier"], bootstrap, tmp_path, env=notifier_env) as notifiers,
        ):
            ingest = await ingests.start("a", port=ingest_port)
            prober = await probers.start("a")
            notifier = await notifiers.start("a")
            upstream = Upstream(ingest.url)
            posting = asyncio.create_task(upstream.post_all(payloads, every=0.1))

            def mails_for_us() -> list[str]:
                return [str(m["Subject"]) for m in mail.messages if str(m["Subject"]).split()[3:4]]

            def mailed() -> set[str]:
                found = set()
                for message in mail.messages:
                    words = str(message["Subject"]).split()
                    if len(words) > 3 and words[3] in numbers:
                        found.add(words[3])
                return found

            async def accepted(count: int) -> bool:
                return len(upstream.accepted) >= count

            await until(lambda: accepted(15), within=60, what="15 tickets accepted")
            await ingest.kill()
            kills["ingest"] = time.monotonic() - began
            await asyncio.sleep(1.0)  # webhooks refused meanwhile: the upstream retries
            await ingests.start("b", port=ingest_port)

            async def verdicts_flow() -> bool:
                return await prober.metric("vigie_prober_verdicts_total") >= 10

            await until(verdicts_flow, within=90, what="10 verdicts")
            await prober.kill()
            kills["prober"] = time.monotonic() - began
            await probers.start("b")

            async def mails_flow() -> bool:
                return len(mailed()) >= 5

            await until(mails_flow, within=120, what="5 mails")
            await notifier.kill()
            kills["notifier"] = time.monotonic() - began
            await notifiers.start("b")
            await asyncio.wait_for(posting, timeout=120)

            async def all_mailed() -> bool:
                return mailed() >= numbers

            await until(all_mailed, within=180, what=f"the {TICKET_COUNT} customers' mails")
            took = time.monotonic() - began
            await asyncio.sleep(3.0)  # past the retries: nothing more may come
            messages = list(mail.messages)
        records = await all_records(bootstrap, [TICKETS, VERDICTS])

    ours = set(upstream.accepted.values())
    by_number: dict[str, set[str]] = defaultdict(set)
    deliveries: Counter[str] = Counter()
    for message in messages:
        words = str(message["Subject"]).split()
        if len(words) > 3 and words[3] in numbers:
            by_number[words[3]].add(str(message["Message-ID"]))
            deliveries[str(message["Message-ID"])] += 1
    repeats = sum(n - 1 for n in deliveries.values())
    tickets: dict[str, set[str]] = defaultdict(set)
    finals: dict[str, set[str]] = defaultdict(set)
    for record in records:
        event = json.loads(record.value)
        data = event["data"]
        if record.topic == TICKETS and data["ticket"]["id"] in ours:
            tickets[data["ticket"]["id"]].add(event["id"])
        final = (data.get("observation") or {}).get("final") if record.topic == VERDICTS else False
        if final and data["ticket_id"] in ours:
            finals[data["ticket_id"]].add(event["id"])
    log.warning(
        "chain under restarts: %d tickets mailed in %.1f s; kills at %s; %d webhook attempts "
        "refused while ingest was down; %d mail(s) delivered again under the same Message-ID",
        len(by_number),
        took,
        {k: round(v, 1) for k, v in kills.items()},
        upstream.refused_attempts,
        repeats,
    )
    assert set(upstream.accepted) == numbers
    assert set(by_number) == numbers, "a ticket's mail was lost"
    assert all(len(ids) == 1 for ids in by_number.values()), "a ticket got two distinct mails"
    assert repeats <= CONCURRENCY, f"{repeats} repeats for {CONCURRENCY} sends in flight"
    assert set(tickets) == ours, "a ticket event was lost"
    assert all(len(ids) == 1 for ids in tickets.values()), "a ticket event was doubled"
    assert set(finals) == ours, "a final verdict was lost"
    assert all(len(ids) == 1 for ids in finals.values()), "two final verdicts for one ticket"
