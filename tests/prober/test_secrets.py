"""Credentials never leave the prober: not in its logs, events, read API answers nor tables.

The lab and the prober share passwords made for this test (random, 24 characters), so that
any trace of them is unmistakable. The prober runs as a process at DEBUG level over a lab with
a jump host, a stable router behind it and a router that refuses every login; what it writes
(stdout, stderr), publishes (every topic), answers (read API, metrics, health) and stores
(every row of every table; on SQLite the files' bytes too, free pages included) is searched
for each password, its repr, hex, URL and base64 encodings (at each alignment) and every
10-character piece of it.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from vigie_common.events import topics
from vigie_common.events.tickets import TicketState
from vigie_common.kafka.tansu import EmbeddedBroker
from vigie_lab import Lab, LabScenarios, packaged_scenarios
from vigie_lab.credentials import JUMP_PASSWORD_ENV, ROUTER_PASSWORD_ENV

from tests.prober.prober_process import all_records, dump_tables, prober_processes
from tests.prober.service_rig import import_lab_inventory, prober_db, send, ticket
from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

FRAGMENT = 10
"""A piece of a password this long, found anywhere, is a leak (24 random characters: no
10-character piece of them turns up by chance)."""
STABLE, REFUSING = "LAB-STABLE", "LAB-WRONG-PASSWORD"


def disguises(secret: str) -> dict[str, bytes]:
    """What a leaked ``secret`` may look like, by name: whole, encoded, or a piece of it."""
    raw = secret.encode()
    forms = {
        "repr": repr(secret).encode(),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "url-encoded": quote(secret, safe="").encode(),
    }
    for shift in range(3):  # inside a longer base64 text, the secret may start at any byte
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * shift + raw).rstrip(b"=")
            forms[f"{name}+{shift}"] = text[4:-4]  # the characters only the secret decides
    for start in range(len(secret) - FRAGMENT + 1):
        forms[f"piece {start}"] = raw[start : start + FRAGMENT]
    return forms


def leaks(blobs: Mapping[str, bytes], passwords: Mapping[str, str]) -> list[str]:
    """``<where>: <which password> as <form>`` for every disguise found in a blob."""
    found = []
    for which, secret in passwords.items():
        for form, needle in disguises(secret).items():
            found += [f"{where}: {which} as {form}" for where, b in blobs.items() if needle in b]
    return found


def test_the_leak_detector_finds_a_password_in_its_disguises() -> None:
    secret = secrets.token_urlsafe(18)
    hidden = base64.b64encode(b"user:" + secret.encode()).decode()  # HTTP Basic, shift 2
    blobs = {
        "log": json.dumps({"event": "login", "detail": f"tried {secret[3:15]}"}).encode(),
        "header": f"Authorization: Basic {hidden}".encode(),
        "clean": b"nothing to see here " * 50,
    }
    found = leaks(blobs, {"router": secret})
    assert {line.split(":")[0] for line in found} == {"log", "header"}
    assert any("as base64+2" in line for line in found)
    assert any("as piece 3" in line for line in found)


def lab_scenarios() -> LabScenarios:
    """The catalogue's jump host, its stable router and its router refusing every login."""
    catalogue = packaged_scenarios("catalogue.yaml").with_any_ports()
    devices = [d for d in catalogue.devices if d.name in (STABLE, REFUSING)]
    assert {d.scenario.kind for d in devices} == {"stable", "wrong_password"}
    return catalogue.model_copy(update={"devices": devices})


def as_bytes(value: Any) -> bytes:
    return repr(value).encode() if not isinstance(value, bytes) else value


def record_blob(records: Iterable[Any]) -> bytes:
    """Keys, values and headers of Kafka records, as sent."""
    parts: list[bytes] = []
    for record in records:
        parts += [record.key or b"", record.value or b""]
        parts += [name.encode() + b"=" + value for name, value in record.headers]
    return b"\n".join(parts)


async def test_credentials_never_appear_in_logs_events_api_answers_or_rows(
    databases: DatabaseFactory, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    passwords = {"router": secrets.token_urlsafe(18), "jump host": secrets.token_urlsafe(18)}
    lab_env = {ROUTER_PASSWORD_ENV: passwords["router"], JUMP_PASSWORD_ENV: passwords["jump host"]}
    credentials = {
        "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__USERNAME": "vigie",
        "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__PASSWORD": passwords["router"],
        "VIGIE_PROBER_CREDENTIALS__LAB_REBOND__USERNAME": "tech",
        "VIGIE_PROBER_CREDENTIALS__LAB_REBOND__PASSWORD": passwords["jump host"],
    }
    settings = {
        "VIGIE_LOG_LEVEL": "DEBUG",
        "VIGIE_PROBER_PING_FROM": "jump_host",  # the jump host's login is used for layer 1 too
        "VIGIE_PROBER_OBSERVATION__INTERVAL_S": "1",
        "VIGIE_PROBER_OBSERVATION__WINDOW_S": "3",
    }
    db = prober_db(databases)
    await own_broker.start()
    bootstrap = own_broker.bootstrap_servers
    stable = ticket(site_a=STABLE, site_b=None)
    refused = ticket(site_a=REFUSING, site_b=None)
    observed = ticket(state=TicketState.RESTORED, site_a=STABLE, site_b=REFUSING)
    values = (stable, refused, observed)
    answers: dict[str, bytes] = {}
    async with (
        Lab.start(lab_scenarios(), data_dir=tmp_path / "lab", env=lab_env) as lab,
        prober_processes(
            db, bootstrap, lab, tmp_path, credentials=credentials, env=settings
        ) as probers,
    ):
        await import_lab_inventory(db, lab)
        prober = await probers.start("secrets")
        await send(bootstrap, *values)
        verdicts = {v.id: await prober.wait_plan(v.id, within=40) for v in values}
        for value in values:
            for path in (f"/v1/tickets/{value.id}/verdict", f"/v1/tickets/{value.id}/observations"):
                answers[f"GET {path}"] = (await prober.get(path, limit=500)).content
        for path in ("/metrics", "/readyz", "/healthz"):
            answers[f"GET {path}"] = (await prober.get(path)).content
        every_topic = [*topics.ALL, *(topics.dead_letter(t) for t in topics.ALL)]
        records = await all_records(bootstrap, every_topic)
        await prober.stop()  # a clean stop: its shutdown lines are searched too
        commands = {name: list(sent) for name, sent in lab.commands_received.items()}
    tables = await dump_tables(db)

    blobs: dict[str, bytes] = {"prober stdout and stderr": prober.output()}
    blobs.update(answers)
    for topic in every_topic:
        blobs[f"topic {topic}"] = record_blob(r for r in records if r.topic == topic)
    blobs.update({f"table {name}": as_bytes(rows) for name, rows in tables.items()})
    if db.startswith("sqlite"):
        db_file = Path(db.split("///", 1)[1])
        for file in db_file.parent.glob(f"{db_file.name}*"):  # the database, its journal or WAL
            blobs[f"file {file.name}"] = file.read_bytes()
    assert leaks(blobs, passwords) == []

    # What was searched holds what it should: the search could have found something.
    logs = prober.logs()
    assert {r["level"] for r in logs} >= {"debug", "info"}, "not logging at DEBUG"
    # asyncssh stays at WARNING (vigie_common.logs.NOISY_LIBRARIES): the logins show in
    # vigie's own DEBUG lines and in the observations, which are searched above.
    probed = {r["device"]: r for r in prober.events("device probed")}
    assert probed[STABLE]["verdict"] == "stable"
    assert "authentication failed" in probed[REFUSING]["reason"]
    assert b"via rebond" in blobs[f"topic {topics.OBSERVATIONS}"]
    assert {r["ticket_id"] for r in prober.events("verdict reached")} == {v.id for v in values}
    assert commands[STABLE] and not commands[REFUSING]  # the refusing router got no command
    published = {topic: blobs[f"topic {topic}"] for topic in every_topic}
    for value in values:
        assert value.id.encode() in published[topics.VERDICTS]
        assert value.id.encode() in published[topics.OBSERVATIONS]
    for table in ("device", "jump_host", "observation", "ticket_verdict", "outbox_event"):
        assert tables[table], f"table {table} is empty"
    assert b"lab-router" in blobs["table device"] and b"lab-rebond" in blobs["table jump_host"]

    # The refused login names the credentials profile (never its secret), as does the
    # observed link's refusing end; the stable router was reached through the jump host.
    refusal = verdicts[refused.id]["verdict"]
    assert refusal["verdict"] == "inconclusive"
    (end,) = refusal["ends"]
    assert end["failed_layer"] == "access"
    assert "authentication failed" in end["reason"] and "(profile lab-router)" in end["reason"]
    ok = verdicts[stable.id]["verdict"]
    assert ok["verdict"] == "stable", ok["reason"]
    ends = {e["site_code"]: e for e in verdicts[observed.id]["verdict"]["ends"]}
    assert "(profile lab-router)" in ends[REFUSING]["reason"]
    assert ends[STABLE]["verdict"] == "stable"
    assert verdicts[observed.id]["plan"]["rounds_done"] >= 2
    observations = json.loads(answers[f"GET /v1/tickets/{stable.id}/observations"])["items"]
    (seen,) = observations
    layers = {layer["layer"]: layer for layer in seen["layers"]}
    assert layers["reachability"]["figures"]["origin"] == "jump host rebond"
    assert "via rebond" in layers["access"]["detail"]
