"""The prober as processes: killed mid-round it resumes, and two replicas share one schedule.

Each test runs ``vigie-prober run`` as real processes (:mod:`tests.prober.prober_process`)
against a lab in the test's event loop, a migrated database and a Tansu of its own (no other
test's tickets, and a consumer group that starts empty). The tickets topic has 3 partitions,
so two replicas of the ``vigie-prober`` group each get some.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.tickets import TicketState
from vigie_common.events.topics import OBSERVATIONS, VERDICTS
from vigie_common.kafka.tansu import EmbeddedBroker
from vigie_lab import LabScenarios, fleet_scenarios, packaged_scenarios
from vigie_lab.kinds import SlowDrip, Stable
from vigie_prober.models import ProbePlan, TicketVerdictRow

from tests.prober.prober_process import ProberProcess, prober_processes
from tests.prober.service_rig import import_lab_inventory, prober_db, seed_lab, send, ticket
from tests.support.database import DatabaseFactory
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

RAD_LOG = "show configure reporting alarm-log"
SLOW_DEVICE = "RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC"
FAST_DEVICE = "RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7"
SLOW_BYTES_PER_SECOND = 150.0
"""The seed's log is about 520 bytes: answered at this pace, a round lasts about 3.5 s."""


def slow_p2p() -> LabScenarios:
    """The seed's P2P link, its ``a`` end answering the log command slowly (still stable)."""
    seed = packaged_scenarios().with_any_ports()
    first, *others = seed.devices
    assert first.name == SLOW_DEVICE and isinstance(first.scenario, Stable)
    slow = SlowDrip(
        kind="slow_drip", since=first.scenario.since, bytes_per_second=SLOW_BYTES_PER_SECOND
    )
    return seed.model_copy(
        update={"devices": [first.model_copy(update={"scenario": slow}), *others]}
    )


def verdict_rounds(records: list[Any]) -> list[tuple[str, int, bool]]:
    """``(event id, round, final)`` of each verdict record, as published."""
    found = []
    for record in records:
        event = json.loads(record.value)
        assert event["type"] == "vigie.verdict.reached.v1"
        data = event["data"]
        found.append((event["id"], data["round"], data["observation"]["final"]))
    return found


def logged_rounds(prober: ProberProcess, ticket_id: str) -> list[int]:
    """The rounds the process saved (its ``verdict reached`` log lines) for the ticket."""
    return [r["round"] for r in prober.events("verdict reached") if r["ticket_id"] == ticket_id]


def troubles(prober: ProberProcess) -> list[str]:
    """Rounds the process gave back (to be run again) or whose result it dropped."""
    return [
        str(line["event"])
        for line in prober.logs()
        if str(line.get("event")).startswith(("probe round failed", "round result dropped"))
    ]


async def wait_mid_round(
    prober: ProberProcess, ticket_id: str, commands: list[str], *, within: float = 40.0
) -> int:
    """Wait until a round is saved and the next one's log command is being answered (slowly).

    The device records the command when it gets it and answers it for about 3.5 s: a round
    whose command arrived within the last second, and which the read API shows leased and not
    saved, is in flight for seconds more. Returns the rounds saved so far.
    """
    deadline = time.monotonic() + within
    seen, seen_at = len(commands), time.monotonic()
    while time.monotonic() < deadline:
        prober.check_alive()
        if len(commands) != seen:
            seen, seen_at = len(commands), time.monotonic()
        found = await prober.plan(ticket_id)
        if found is not None:
            plan = found["plan"]
            done = plan["rounds_done"]
            fresh = time.monotonic() - seen_at < 1.0
            if done >= 1 and plan["probing_now"] and len(commands) == seen == done + 1 and fresh:
                return int(done)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no round in flight after a saved one within {within} s")


async def test_a_prober_killed_mid_round_resumes_and_publishes_no_duplicate_verdict(
    databases: DatabaseFactory, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    db = prober_db(databases)
    await own_broker.start()
    bootstrap = own_broker.bootstrap_servers
    timing = {
        "VIGIE_PROBER_OBSERVATION__INTERVAL_S": "2",
        "VIGIE_PROBER_OBSERVATION__WINDOW_S": "14",
        "VIGIE_PROBER_LEASE_S": "3",
        "VIGIE_PROBER_SSH__COMMAND_TIMEOUT": "10",
        "VIGIE_PROBER_PING_FROM": "none",
    }
    value = ticket(state=TicketState.RESTORED)
    async with (
        seed_lab(tmp_path, slow_p2p()) as lab,
        prober_processes(db, bootstrap, lab, tmp_path, env=timing) as probers,
    ):
        await import_lab_inventory(db, lab)
        slow_commands = lab.commands_received[SLOW_DEVICE]  # live list
        a = await probers.start("a")
        await send(bootstrap, value)
        saved_by_a = await wait_mid_round(a, value.id, slow_commands)
        await a.kill()
        b = await probers.start("b")
        found = await b.wait_plan(value.id, within=45)
        rounds = found["plan"]["rounds_done"]
        observations = (await b.get(f"/v1/tickets/{value.id}/observations", limit=500)).json()
        records, observed = await asyncio.gather(
            read_records(bootstrap, VERDICTS, keys={value.id}, expect=rounds, within=20, grace=2),
            read_records(
                bootstrap, OBSERVATIONS, keys={value.id}, expect=2 * rounds, within=20, grace=2
            ),
        )
        commands = {name: list(sent) for name, sent in lab.commands_received.items()}

    assert a.process.returncode == -signal.SIGKILL
    published = verdict_rounds(records)
    ids = [event_id for event_id, _, _ in published]
    assert len(ids) == len(set(ids)), f"a verdict event published twice: {published}"
    assert sorted(r for _, r, _ in published) == list(range(1, rounds + 1)), published
    assert [r for _, r, final in published if final] == [rounds], "one final verdict, the last"
    assert rounds > saved_by_a  # B took the interrupted round over (and what came after it)
    observation_events = [json.loads(r.value) for r in observed]
    assert len({e["id"] for e in observation_events}) == len(observation_events) == 2 * rounds
    assert sorted((e["data"]["round"], e["data"]["end"]) for e in observation_events) == [
        (r, end) for r in range(1, rounds + 1) for end in ("a", "b")
    ]
    # A saved rounds 1..k and was killed probing k+1; B ran k+1 again, then the rest.
    assert logged_rounds(a, value.id) == list(range(1, saved_by_a + 1))
    assert logged_rounds(b, value.id) == list(range(saved_by_a + 1, rounds + 1))
    # The interrupted round reached the slow router from both processes: run twice, saved once.
    assert commands[SLOW_DEVICE] == [RAD_LOG] * (rounds + 1)
    assert len(commands[FAST_DEVICE]) in (rounds, rounds + 1)
    # The read API agrees: the last round, final, the window closed, nothing leased.
    assert found["verdict"]["round"] == rounds and found["final"] is True
    assert found["verdict"]["verdict"] == "stable", found["verdict"]["reason"]
    assert found["plan"]["outcome"] == "window closed"
    items = observations["items"]
    assert sorted((o["round"], o["end"]) for o in items) == [
        (r, end) for r in range(1, rounds + 1) for end in ("a", "b")
    ]
    assert troubles(b) == []


TICKETS = 20


async def test_two_replicas_on_one_postgresql_share_the_schedule_without_running_a_probe_twice(
    postgres_factory: DatabaseFactory, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    db = prober_db(postgres_factory)
    await own_broker.start()
    bootstrap = own_broker.bootstrap_servers
    timing = {
        "VIGIE_PROBER_OBSERVATION__INTERVAL_S": "2",
        "VIGIE_PROBER_OBSERVATION__WINDOW_S": "8",
        # A replica holds at most 4 rounds at once: when many are due together, the other
        # replica's next poll finds some left (else whoever polls first takes them all).
        "VIGIE_PROBER_MAX_CONCURRENT_TICKETS": "4",
        "VIGIE_PROBER_PING_FROM": "none",
    }
    fleet = fleet_scenarios(TICKETS)
    device_of_site = {d.site: d.name for d in fleet.devices}
    values = [
        ticket(state=TicketState.RESTORED, site_a=site, site_b=None) for site in device_of_site
    ]
    async with (
        seed_lab(tmp_path, fleet) as lab,
        prober_processes(db, bootstrap, lab, tmp_path, env=timing) as probers,
    ):
        await import_lab_inventory(db, lab)
        a, b = probers.launch("a"), probers.launch("b")
        await asyncio.gather(a.wait_ready(), b.wait_ready())
        await send(bootstrap, *values)
        plans = await wait_all_done(db, {v.id for v in values}, [a, b], within=45)
        total = sum(plans.values())
        records = await read_records(
            bootstrap, VERDICTS, keys=set(plans), expect=total, within=30, grace=2.0
        )
        by_metrics = [await p.metric("vigie_prober_verdicts_total") for p in (a, b)]
        commands = {name: list(sent) for name, sent in lab.commands_received.items()}
    rows = await verdict_rows(db)

    published = [json.loads(r.value) for r in records]
    ids = [event["id"] for event in published]
    assert len(ids) == len(set(ids)) == total, "a verdict event is missing or published twice"
    by_ticket: dict[str, list[int]] = {}
    for event in published:
        by_ticket.setdefault(event["subject"], []).append(event["data"]["round"])
    for value in values:
        rounds = plans[value.id]
        assert rounds >= 3, f"{value.id}: only {rounds} rounds in an 8 s window every 2 s"
        assert sorted(by_ticket[value.id]) == list(range(1, rounds + 1)), value.id
        assert sorted(rows[value.id]) == list(range(1, rounds + 1)), value.id
        device = device_of_site[value.site_a.code if value.site_a else ""]
        assert commands[device] == [RAD_LOG] * rounds, f"{device} probed more than once a round"
    # Every round was probed and saved by exactly one replica; both did a share.
    saved = Counter(
        (line["ticket_id"], line["round"])
        for prober in (a, b)
        for line in prober.events("verdict reached")
    )
    assert sum(saved.values()) == total and all(n == 1 for n in saved.values())
    shares = [len(p.events("verdict reached")) for p in (a, b)]
    assert all(share > 0 for share in shares), f"one replica did nothing: {shares}"
    assert by_metrics == shares  # each replica's /metrics counts what it logged
    assert troubles(a) == troubles(b) == []


async def wait_all_done(
    db_url: str, ticket_ids: set[str], probers: list[ProberProcess], *, within: float
) -> dict[str, int]:
    """Rounds done by ticket, once every ticket's plan has nothing more due nor leased."""
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    deadline = time.monotonic() + within
    plans: dict[str, tuple[int, bool]] = {}
    try:
        while time.monotonic() < deadline:
            for prober in probers:
                prober.check_alive()
            async with sessions() as session:
                rows = await session.execute(
                    select(
                        ProbePlan.ticket_id,
                        ProbePlan.round,
                        ProbePlan.due_at,
                        ProbePlan.lease_owner,
                    )
                )
                plans = {
                    tid: (rounds, due is None and owner is None) for tid, rounds, due, owner in rows
                }
            if set(plans) == ticket_ids and all(done for _, done in plans.values()):
                return {tid: rounds for tid, (rounds, _) in plans.items()}
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    raise AssertionError(f"not every plan done within {within} s: {plans}")


async def verdict_rows(db_url: str) -> dict[str, list[int]]:
    """The rounds of the stored verdicts, by ticket."""
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(select(TicketVerdictRow.ticket_id, TicketVerdictRow.round))
            found: dict[str, list[int]] = {}
            for tid, round_ in rows:
                found.setdefault(tid, []).append(round_)
            return found
    finally:
        await engine.dispose()
