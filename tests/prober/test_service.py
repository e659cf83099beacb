"""The prober service on real parts: Kafka (Tansu), PostgreSQL and SQLite, the lab over SSH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
