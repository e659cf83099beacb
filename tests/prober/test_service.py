"""The prober service on real parts: Kafka (Tansu), PostgreSQL and SQLite, the lab over SSH."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from vigie_common.events.tickets import TicketState
from vigie_common.events.topics import OBSERVATIONS, VERDICTS

from tests.prober.service_rig import (
    import_lab_inventory,
    prober_db,
    running_prober,
    seed_lab,
    send,
    ticket,
)
from tests.support.database import DatabaseFactory
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration


async def test_an_open_p2p_ticket_gets_one_diagnostic_verdict_through_the_jump_host(
    databases: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    db = prober_db(databases)
    async with seed_lab(tmp_path) as lab:
        await import_lab_inventory(db, lab)
        async with running_prober(db, kafka_bootstrap, lab) as prober:
            value = ticket()
            await send(kafka_bootstrap, value)
            found = await prober.wait_verdict(value.id)
            verdicts = await read_records(kafka_bootstrap, VERDICTS, keys={value.id}, expect=1)
            observations = await read_records(
                kafka_bootstrap, OBSERVATIONS, keys={value.id}, expect=2
            )

    verdict = found["verdict"]
    assert verdict["verdict"] == "stable", verdict["reason"]
    assert verdict["purpose"] == "diagnostic"
    assert [e["end"] for e in verdict["ends"]] == ["a", "b"]
    assert {e["hostname"] for e in verdict["ends"]} == {
        "RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC",
        "RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7",
    }
    assert all(e["stable_since"] and "16:10:44" in e["stable_since"] for e in verdict["ends"])
    assert found["plan"]["next_probe_at"] is None and found["plan"]["outcome"] == "diagnosed"
    assert len(verdicts) == 1
    event = json.loads(verdicts[0].value)
    assert event["type"] == "vigie.verdict.reached.v1"
    assert event["data"]["verdict"] == "stable"
    assert len(observations) == 2
    layers = [json.loads(r.value)["data"]["layers"] for r in observations]
    for run in layers:
        assert [layer["layer"] for layer in run] == ["reachability", "access", "evidence"]
        assert "via rebond" in run[1]["detail"]


def _rounds(records: list[Any]) -> list[dict[str, Any]]:
    return sorted((json.loads(r.value)["data"] for r in records), key=lambda d: d["round"])


async def test_a_restored_ticket_is_observed_every_interval_until_the_window_closes(
    databases: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    db = prober_db(databases)
    async with seed_lab(tmp_path) as lab:
        await import_lab_inventory(db, lab)
        timing = {"interval_s": 1.5, "window_s": 4.0}
        async with running_prober(db, kafka_bootstrap, lab, observation=timing) as prober:
            value = ticket(state=TicketState.RESTORED)
            await send(kafka_bootstrap, value)
            await prober.wait_verdict(value.id, within=40, final=True)
            found = await prober.verdict(value.id)
            pages = await prober.get(f"/v1/tickets/{value.id}/observations", limit=3)
            unknown = await prober.get("/v1/tickets/no-such-ticket/verdict")
            stable = prober.metric("vigie_prober_probes_total", layer="verdict", result="stable")
            published = prober.metric(
                "vigie_prober_verdicts_total", purpose="observation", verdict="stable"
            )
        rounds = found["plan"]["rounds_done"] if found else 0
        verdicts = await read_records(kafka_bootstrap, VERDICTS, keys={value.id}, expect=rounds)

    assert found is not None and found["final"] is True
    assert found["plan"]["outcome"] == "window closed"
    assert found["plan"]["next_probe_at"] is None
    data = _rounds(verdicts)
    assert rounds >= 3, "probed at the start, every 1.5 s, and at the window's end"
    assert [d["round"] for d in data] == list(range(1, rounds + 1))
    assert len({json.loads(r.value)["id"] for r in verdicts}) == rounds
    assert [d["observation"]["final"] for d in data] == [False] * (rounds - 1) + [True]
    assert all(d["verdict"] == "stable" and d["purpose"] == "observation" for d in data)
    assert data[0]["since"] == data[0]["observation"]["started"]
    page = pages.json()
    assert pages.status_code == 200 and len(page["items"]) == 3 and page["next"] is not None
    assert page["items"][0]["round"] == rounds
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    # The session broker may hold earlier tests' tickets, which this group reads too.
    assert stable >= 2 * rounds and published >= rounds


async def test_closure_cancels_unknown_sites_are_inconclusive_and_a_flapping_line_ends_early(
    postgres_factory: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    db = prober_db(postgres_factory)
    async with seed_lab(tmp_path) as lab:
        await import_lab_inventory(db, lab)
        timing = {"interval_s": 30.0, "window_s": 600.0}
        async with running_prober(db, kafka_bootstrap, lab, observation=timing) as prober:
            observed = ticket(state=TicketState.RESTORED)
            unknown = ticket(site_a="NOWHERE_SITE", site_b="INL_MOIRA_EVPN_LA1")
            flapping = ticket(
                state=TicketState.RESTORED,
                site_a="INL_VOIRO_EVPN_LA1",
                site_b=None,
                restored_at=datetime.now(UTC) - timedelta(hours=1),
            )
            await send(kafka_bootstrap, observed, unknown, flapping)
            await prober.wait_verdict(observed.id)
            closed = observed.model_copy(update={"version": 2, "state": TicketState.CLOSED})
            await send(kafka_bootstrap, closed)
            await prober.wait_plan(observed.id, outcome="ticket closed")
            after_close = await prober.verdict(observed.id)
            inconclusive = await prober.wait_verdict(unknown.id)
            flapped = await prober.wait_verdict(flapping.id)

    assert after_close is not None
    assert after_close["plan"]["next_probe_at"] is None
    assert after_close["plan"]["rounds_done"] == 1
    verdict = inconclusive["verdict"]
    assert verdict["verdict"] == "inconclusive"
    ends = {e["site_code"]: e for e in verdict["ends"]}
    assert ends["NOWHERE_SITE"]["reason"] == "unknown site NOWHERE_SITE"
    assert ends["NOWHERE_SITE"]["hostname"] is None
    assert ends["INL_MOIRA_EVPN_LA1"]["verdict"] == "stable"
    flap = flapped["verdict"]
    assert flap["verdict"] == "flapping", flap["reason"]
    assert flap["flaps"] >= 3 and flap["ends"][0]["evidence"]
    assert flapped["final"] is True and flapped["plan"]["outcome"] == "line failed"
    assert flap["observation"]["final"] is True
