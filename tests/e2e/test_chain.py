"""The whole chain on real parts, on PostgreSQL and on SQLite.

A signed Oceane webhook (the design's ticket, restored) → ingest → Kafka (Tansu) → prober
(SSH through the lab's jump host to the lab's two routers, every interval until the short
observation window closes) → final ``stable`` verdict → notifier → the customer's CLT 5 mail,
received by an SMTP server (the lab's sink) and read back: the team's subject, "no flap since"
for each end with the date of that end's last log line, the evidence lines; and the ticket's
GTR record.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from vigie_lab import MailSink

from tests.e2e.chain_rig import OBSERVATION, chain_databases, restored_webhook, until
from tests.notifier.service_rig import running_notifier
from tests.prober.service_rig import import_lab_inventory, running_prober, seed_lab
from tests.support.builders import signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_settings, running_ingest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SUBJECT = (
    "ORANGE INFO INCIDENT {number} / Votre référence : CD0HG0FDC / "
    "Site : INL_MOIRA_EVPN_LA1 - Ville : MOIRANS"
)
NO_FLAP = re.compile(r"aucune coupure \(bagot\) constatée depuis le (\d\d/\d\d/\d{4} à \d\d:\d\d)")
PARIS = ZoneInfo("Europe/Paris")


async def test_a_webhook_becomes_the_customers_mail(
    databases: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    dbs = await chain_databases(databases, tmp_path)
    ingest_url, prober_url, notifier_url = dbs.ingest, dbs.prober, dbs.notifier
    number, body = restored_webhook()
    async with (
        seed_lab(tmp_path) as lab,
        MailSink.start(tmp_path / "mail") as mail,
    ):
        await import_lab_inventory(prober_url, lab)
        async with (
            running_prober(prober_url, kafka_bootstrap, lab, observation=OBSERVATION) as prober,
            running_notifier(notifier_url, kafka_bootstrap, mail, None) as notifier,
            running_ingest(ingest_settings(ingest_url, kafka_bootstrap)) as ingest,
        ):
            began = time.monotonic()
            answer = await ingest.post(
                "/v1/webhooks/oceane", content=body, headers=signed_headers(body)
            )
            assert answer.status_code == 202, answer.text
            ticket_id = answer.json()["ticket_id"]

            def mails() -> list[EmailMessage]:
                return [m for m in mail.messages if number in str(m["Subject"])]

            async def mailed() -> bool:
                return bool(mails())

            await until(mailed, within=90, what="the customer's CLT 5 mail")
            took = time.monotonic() - began
            found = await prober.verdict(ticket_id)
            gtr = await notifier.json(f"/v1/tickets/{ticket_id}/gtr")
            history = await notifier.json(f"/v1/tickets/{ticket_id}/notifications")
            await asyncio.sleep(1.5)  # nothing more may come for this ticket
            [message] = mails()

    print(f"webhook to mail: {took:.1f} s")  # noqa: T201 - the figure the issue asks for
    assert found is not None and found["final"], found
    verdict = found["verdict"]
    assert verdict["verdict"] == "stable" and verdict["purpose"] == "observation", verdict
    assert message["Subject"] == SUBJECT.format(number=number)
    assert {a.addr_spec for a in message["To"].addresses} == {
        "jean.dupont@example.com",
        "lea.martin@example.com",
    }
    text = message.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    # One "no flap since" for each end, at the time of that end's last link event (Paris).
    since = NO_FLAP.findall(content)
    ends = verdict["ends"]
    assert [end["end"] for end in ends] == ["a", "b"]
    expected = [
        datetime.fromisoformat(end["stable_since"]).astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")
        for end in ends
    ]
    assert since == expected, content
    for end in ends:
        assert end["verdict"] == "stable", end
        assert end["evidence"], end
        for event in end["evidence"]:  # the evidence lines, as the routers printed them
            for line in event.splitlines():
                assert line.strip() in content, (line, content)
    assert message["In-Reply-To"] is not None

    [decision] = history["decisions"]
    assert decision["template"] == "CLT5" and decision["rule"] == "stable-after-observation"
    assert [n["state"] for n in decision["notifications"]] == ["sent"]
    assert gtr["state"] == "restored"
    assert gtr["started_at"] == "2025-05-30T07:52:00+00:00"  # 09:52 Paris, from the webhook
    assert gtr["deadline"] == "2025-05-30T11:52:00+00:00"  # 240 business minutes later
    assert gtr["met"] is False  # restored long after: the design's ticket is from 2025
    assert gtr["contract"]["budget_minutes"] == 240
