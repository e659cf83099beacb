"""The notifier's rules on real parts: who receives what when a line flaps, a router is down,
an intervention stays open, the GTR runs out, the ticket closes, or nobody is known."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from vigie_common.events.tickets import TicketState
from vigie_lab import MailSink

from tests.notifier.service_rig import (
    import_contact_file,
    notifier_db,
    running_notifier,
    send_ticket,
    send_verdict,
    ticket_event,
    until,
    verdict_event,
)
from tests.notifier.test_rendering import flapping_verdict, real_ticket, unreachable_verdict
from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

RULES = """\
rules:
  - name: flapping-line
    event: verdict
    when: {verdict: flapping}
    send: A2
    to: support
    chase: {send: A3, after_minutes: 0.02}
  - name: router-unreachable
    event: verdict
    when: {verdict: unreachable}
    send: A0
    to: field
    chase: {send: A1, after_minutes: 600}
  - name: closure
    event: ticket
    when: {state: closed, previous_state: [open, restored, in_observation]}
    send: CLT6
    to: customer
  - name: gtr-overdue
    event: gtr_warning
    when: {threshold_percent: 100}
    send: E1
    to: escalation
"""


def numbered(**changes: Any) -> Any:
    number = str(2_700_000_000 + uuid.uuid4().int % 99_999_999)
    return real_ticket(id=f"tkt-rules-{number}", upstream_id=number, **changes)


def to(messages: list[EmailMessage], number: str) -> dict[str, list[str]]:
    """The subjects about ticket ``number``, by recipient address."""
    found: dict[str, list[str]] = {}
    for message in messages:
        if number in str(message["Subject"]):
            for address in message["To"].addresses:
                found.setdefault(address.addr_spec, []).append(str(message["Subject"]))
    return found


async def test_flaps_dead_routers_chases_overdue_gtr_and_closure_reach_the_right_people(
    postgres_factory: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    db = notifier_db(postgres_factory)
    await import_contact_file(db, tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    # Opened two hours ago on a 24/7 four-hour budget: the clock runs, not yet overdue.
    now = datetime.now(UTC)
    flapping = numbered(commitment="GTR S1 4h 24/7", opened_at=now - timedelta(hours=2))
    dead = numbered(commitment="GTR S1 4h 24/7", opened_at=now - timedelta(hours=2))
    # Opened five hours ago: overdue at once.
    overdue = numbered(commitment="GTR S1 4h 24/7", opened_at=now - timedelta(hours=5))
    stranger = numbered(customer="UNKNOWN CUSTOMER SA", commitment="vers 14h peut-être")
    async with (
        MailSink.start(tmp_path / "mail") as mail,
        running_notifier(db, kafka_bootstrap, mail, None, rules_file=rules) as notifier,
    ):
        await send_ticket(
            kafka_bootstrap, *(ticket_event(t) for t in (flapping, dead, overdue, stranger))
        )
        flap = flapping_verdict().model_copy(
            update={"ticket_id": flapping.id, "upstream_id": flapping.upstream_id}
        )
        down = unreachable_verdict().model_copy(
            update={"ticket_id": dead.id, "upstream_id": dead.upstream_id}
        )
        await send_verdict(kafka_bootstrap, verdict_event(flap), verdict_event(down))
        closed = stranger.model_copy(
            update={"version": 2, "state": TicketState.CLOSED, "closed_at": now}
        )
        await send_ticket(kafka_bootstrap, ticket_event(closed, previous=TicketState.OPEN))

        def arrived() -> bool:
            return (
                len(to(mail.messages, flapping.upstream_id).get("support-n2@example.com", [])) >= 2
                and bool(to(mail.messages, dead.upstream_id).get("terrain@example.com"))
                and bool(to(mail.messages, overdue.upstream_id).get("escalade@example.com"))
            )

        await until(arrived, within=30)
        strangers = await notifier.json(f"/v1/tickets/{stranger.id}/notifications")
        unreadable = await notifier.json(f"/v1/tickets/{stranger.id}/gtr")
        running = await notifier.json(f"/v1/tickets/{dead.id}/gtr")
        late = await notifier.json(f"/v1/tickets/{overdue.id}/gtr")
        messages = list(mail.messages)

    flaps = to(messages, flapping.upstream_id)
    assert list(flaps) == ["support-n2@example.com"]
    assert [s.split("]")[0] for s in flaps["support-n2@example.com"]] == ["[INT A2", "[INT A3"]
    assert list(to(messages, dead.upstream_id)) == ["terrain@example.com"]  # A1 is 10 h away
    assert list(to(messages, overdue.upstream_id)) == ["escalade@example.com"]
    assert to(messages, stranger.upstream_id) == {}
    [closure] = strangers["decisions"]
    assert closure["template"] == "CLT6"
    assert closure["outcome"] == "not sent: no recipients for customer"
    assert unreadable["state"] == "unreadable" and "vers 14h" in unreadable["error"]
    assert unreadable["deadline"] is None
    assert running["state"] == "running" and running["warned_percent"] == 50
    assert late["warned_percent"] == 100 and late["next_warning_at"] is None
