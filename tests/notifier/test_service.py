"""The notifier service on real parts: Kafka (Tansu), PostgreSQL and SQLite, an SMTP server
and an SMS gateway (the lab's sinks), from ticket and verdict events to messages received."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from vigie_common.events.probes import ObservationWindow
from vigie_common.events.tickets import TicketState
from vigie_common.events.topics import GTR, NOTIFICATIONS
from vigie_lab import MailSink, SmsSink

from tests.notifier.service_rig import (
    SMS_TOKEN,
    import_contact_file,
    notifier_db,
    running_notifier,
    send_ticket,
    send_verdict,
    ticket_event,
    until,
    verdict_event,
)
from tests.notifier.test_rendering import real_ticket, stable_verdict
from tests.support.database import DatabaseFactory
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
SUBJECT = (
    "ORANGE INFO INCIDENT {number} / Votre référence : CD0HG0FDC / "
    "Site : INL_MOIRA_EVPN_LA1 - Ville : MOIRANS"
)


def unique_ticket(**changes: Any) -> Any:
    """The real ticket under a number of its own: the session's broker holds other tests'."""
    number = str(2_600_000_000 + uuid.uuid4().int % 99_999_999)
    return real_ticket(id=f"tkt-notify-{number}", upstream_id=number, **changes)


def _final(ticket_id: str) -> Any:
    window = ObservationWindow(
        started=datetime(2025, 6, 16, 16, 30, tzinfo=PARIS),
        closes_at=datetime(2025, 6, 19, 10, 15, tzinfo=PARIS),
        interval_s=3600,
        final=True,
    )
    return stable_verdict(ticket_id=ticket_id, observation=window)


async def test_a_final_stable_verdict_mails_and_texts_the_customer_once(
    databases: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    db = notifier_db(databases)
    await import_contact_file(db, tmp_path)
    # One version, already restored: the clock stops as it starts (no GTR warning between).
    restored = unique_ticket(
        state=TicketState.IN_OBSERVATION,
        restored_at=datetime(2025, 5, 30, 12, 40, tzinfo=PARIS),
    )
    ticket_id, number = restored.id, restored.upstream_id
    verdict = verdict_event(_final(ticket_id))
    async with (
        MailSink.start(tmp_path / "mail") as mail,
        SmsSink.start(tmp_path / "sms", token=SMS_TOKEN) as sms,
        running_notifier(db, kafka_bootstrap, mail, sms) as notifier,
    ):
        await send_ticket(kafka_bootstrap, ticket_event(restored))
        await send_verdict(kafka_bootstrap, verdict)

        def mine() -> tuple[list[EmailMessage], list[Any]]:
            mails = [m for m in mail.messages if number in str(m["Subject"])]
            return mails, [t for t in sms.messages if number in t.text]

        await until(lambda: len(mine()[0]) >= 1 and len(mine()[1]) >= 1)
        await send_verdict(kafka_bootstrap, verdict)  # redelivered: nothing new
        sent = await read_records(
            kafka_bootstrap, NOTIFICATIONS, keys={ticket_id}, expect=2, grace=1.5
        )
        outcomes = await read_records(kafka_bootstrap, GTR, keys={ticket_id}, expect=1)
        history = await notifier.json(f"/v1/tickets/{ticket_id}/notifications")
        gtr = await notifier.json(f"/v1/tickets/{ticket_id}/gtr")
        pending = await notifier.json("/v1/notifications", state="pending")
        mails, texts = mine()

    assert len(mails) == 1 and len(texts) == 1, [m["Subject"] for m in mails]
    message: EmailMessage = mails[0]
    assert message["Subject"] == SUBJECT.format(number=number)
    assert {a.addr_spec for a in message["To"].addresses} == {
        "jean.dupont@example.com",
        "lea.martin@example.com",
    }
    assert "MARTIN Léa" in str(message["To"])
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    body = text.get_content()
    assert body.count("aucune coupure (bagot) constatée depuis le 16/06/2025 à 16:10") == 2
    assert "defRDICCM" in body  # the evidence lines
    assert "aucune coupure" in html.get_content()
    assert message["Message-ID"].endswith("@vigie.test>")
    assert message["In-Reply-To"] == message["References"]
    assert message["In-Reply-To"] != message["Message-ID"]
    assert texts[0].to == "+33612345678"
    assert texts[0].text.startswith(f"ORANGE INFO INCIDENT {number} Site INL_MOIRA_EVPN_LA1")
    events = [json.loads(r.value) for r in sent]
    assert sorted(e["data"]["channel"] for e in events) == ["mail", "sms"]
    assert all(e["type"] == "vigie.notification.sent.v1" for e in events)
    assert all("@" not in str(e["data"]["recipients"]) for e in events)
    [decision] = [d for d in history["decisions"] if d["template"] == "CLT5"]
    assert decision["rule"] == "stable-after-observation"
    assert decision["cause_event_id"] == verdict.id
    assert [n["state"] for n in decision["notifications"]] == ["sent", "sent"]
    assert gtr["state"] == "restored" and gtr["met"] is True
    assert gtr["deadline"].startswith("2025-05-30T11:52")  # 13:52 in Paris
    assert json.loads(outcomes[0].value)["data"]["met"] is True
    assert pending["items"] == []
