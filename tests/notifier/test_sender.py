"""The sender task alone, on a real database and a real SMTP server (aiosmtpd, loopback).

Rows are stored as the consume loop stores them (a ticket, a decision, pending sends); the
task runs as the worker runs it, with a context of its own. What is checked: a recipient
refused among accepted ones is recorded and published, a relay slower than half the lease
gives the send back before the lease ends, a channel without a server is never claimed,
new sends go at once when the consume loop wakes the sender, connections are kept.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.clock import SystemClock
from vigie_common.db.engine import make_engine, make_sessionmaker, transaction
from vigie_common.db.leases import claim_due
from vigie_common.events.notices import NOTIFICATION_SENT
from vigie_common.tasks import TaskContext
from vigie_notifier.mailer import MailSettings, message_id_for
from vigie_notifier.metrics import NotifierMetrics
from vigie_notifier.models import Decision, Notification, OutboxEvent, Ticket
from vigie_notifier.sender import Channels, Sender

from tests.notifier.service_rig import notifier_db
from tests.notifier.smtp_rig import Sink, settings_for, smtp_server
from tests.support.database import DatabaseFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ZOE = ("DUPONT Zoé", "zoe@client.example")
LEA = ("MARTIN Léa", "lea@client.example")
NOW = datetime(2025, 6, 16, 14, 10, tzinfo=UTC)


@dataclass
class Rig:
    sessions: async_sessionmaker[AsyncSession]
    registry: CollectorRegistry
    ticket_id: str

    async def add_sends(
        self,
        count: int,
        *,
        channel: str = "mail",
        recipients: tuple[tuple[str, str], ...] = (ZOE,),
    ) -> list[int]:
        """``count`` pending sends of one decision, due now, as the consume loop stores them."""
        async with transaction(self.sessions) as session:
            if await session.get(Ticket, self.ticket_id) is None:
                session.add(
                    Ticket(
                        id=self.ticket_id,
                        version=1,
                        state="restored",
                        customer="RTE",
                        body={},
                        thread_id=message_id_for(f"ticket-{self.ticket_id}", "vigie.test"),
                        updated_at=NOW,
                    )
                )
            decision = Decision(
                ticket_id=self.ticket_id,
                cause_event_id=f"evt-{uuid.uuid4().hex}",
                cause_type="vigie.verdict.reached.v1",
                rule="stable-final",
                template="CLT5",
                audience="customer",
                outcome="sent",
                created_at=NOW,
            )
            session.add(decision)
            await session.flush()
            rows = []
            for _ in range(count):
                key = uuid.uuid4().hex
                row = Notification(
                    key=key,
                    decision_id=decision.id,
                    ticket_id=self.ticket_id,
                    template="CLT5",
                    channel=channel,
                    recipients=[
                        {"name": name, "email": email, "phone": "0612345678"}
                        for name, email in recipients
                    ],
                    message_id=message_id_for(key, "vigie.test"),
                    subject="ORANGE INFO INCIDENT 2505057242",
                    text="Bonjour,\nAucune coupure constatée.\n",
                    html="<p>Bonjour,</p>",
                    state="pending",
                    attempts=0,
                    cause_event_id=decision.cause_event_id,
                    rule="stable-final",
                    created_at=NOW,
                    due_at=datetime.now(UTC),
                )
                session.add(row)
                rows.append(row)
            await session.flush()
            return [row.id for row in rows]

    async def sends(self) -> dict[int, Notification]:
        async with self.sessions() as session:
            rows = await session.scalars(select(Notification))
            return {row.id: row for row in rows}

    async def sent_events(self) -> list[dict[str, object]]:
        async with self.sessions() as session:
            rows = await session.scalars(select(OutboxEvent))
            events = [json.loads(row.value) for row in rows]
        return [e["data"] for e in events if e["type"] == NOTIFICATION_SENT]


@pytest.fixture
async def rig(sqlite_factory: DatabaseFactory) -> AsyncIterator[Rig]:
    engine = make_engine(notifier_db(sqlite_factory))
    try:
        yield Rig(make_sessionmaker(engine), CollectorRegistry(), f"T{uuid.uuid4().hex[:10]}")
    finally:
        await engine.dispose()


def sender_for(rig: Rig, mail: MailSettings | None, **options: float) -> Sender:
    values: dict[str, float] = {"poll_interval_s": 0.1, "retry_backoff_s": 30.0, **options}
    return Sender(
        Channels(mail=mail, sms=None),
        metrics=NotifierMetrics(rig.registry),
        owner=f"test-{uuid.uuid4().hex[:6]}",
        concurrency=int(values.pop("concurrency", 20)),
        **values,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def running(rig: Rig, sender: Sender) -> AsyncIterator[None]:
    """The sender task with a worker's context; stopped (and its results recorded) on exit."""
    stop = asyncio.Event()
    context = TaskContext(
        name="sender",
        sessions=rig.sessions,
        clock=SystemClock(),
        publisher=None,  # type: ignore[arg-type]  # the sender records; the relay publishes
        wake_relay=lambda: None,
        stop=stop,
    )
    task = asyncio.create_task(sender.run(context))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


async def until(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until ``check`` holds; fails after ``within``."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if await check():
            return time.monotonic() - began
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s")


def all_in(rig: Rig, state: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        sends = await rig.sends()
        return sum(s.state == state for s in sends.values()) == count

    return check


async def test_a_recipient_refused_among_accepted_ones_is_recorded_and_published(
    rig: Rig,
) -> None:
    sink = Sink(rcpt_replies={LEA[1]: "550 5.1.1 <lea@client.example>: mailbox unknown"})
    [send_id] = await rig.add_sends(1, recipients=(ZOE, LEA))
    with smtp_server(sink) as port:
        async with running(rig, sender_for(rig, settings_for(port))):
            await until(all_in(rig, "sent", 1), within=10)

    [received] = sink.received
    assert received.rcpt_tos == [ZOE[1]]
    send = (await rig.sends())[send_id]
    assert send.state == "sent"
    assert send.last_error is not None
    assert "MARTIN Léa" in send.last_error and "550 5.1.1" in send.last_error
    assert "lea@client.example" not in send.last_error  # names, never addresses
    [event] = await rig.sent_events()
    assert event["refused"] == ["MARTIN Léa"]
    assert event["recipients"] == ["DUPONT Zoé", "MARTIN Léa"]
    refused = rig.registry.get_sample_value(
        "vigie_notifier_recipients_refused_total", {"channel": "mail"}
    )
    assert refused == 1


@contextmanager
def hung_relay() -> Iterator[int]:
    """A listener that accepts connections and never greets (an SMTP relay hung)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


async def test_a_relay_slower_than_half_the_lease_gets_the_send_back_before_the_lease_ends(
    rig: Rig,
) -> None:
    [send_id] = await rig.add_sends(1)
    with hung_relay() as port:
        # Each SMTP step may take 30 s, but the send is claimed for 2 s only: it must be
        # given back before another replica could claim it and send it a second time.
        sender = sender_for(rig, settings_for(port, timeout=30.0), lease_s=2.0)

        async def given_back() -> bool:
            send = (await rig.sends())[send_id]
            return send.attempts == 1 and send.lease_owner is None

        async with running(rig, sender):
            took = await until(given_back, within=10)

    send = (await rig.sends())[send_id]
    assert took < 2.0, f"given back after {took:.1f} s, past its 2 s lease"
    assert send.state == "pending"
    assert send.last_error == "not delivered within 1 s (half the send lease)"
    assert send.due_at is not None


async def test_a_channel_without_a_server_is_never_claimed(rig: Rig) -> None:
    sink = Sink()
    [sms_id] = await rig.add_sends(1, channel="sms")
    [mail_id] = await rig.add_sends(1)
    with smtp_server(sink) as port:
        async with running(rig, sender_for(rig, settings_for(port))):
            await until(all_in(rig, "sent", 1), within=10)
            await asyncio.sleep(0.3)  # a few more polls
            sms = (await rig.sends())[sms_id]

    assert (await rig.sends())[mail_id].state == "sent"
    assert sms.state == "pending"
    assert sms.lease_owner is None, "claimed by a sender that has no SMS gateway"
    assert sms.attempts == 0


async def test_new_sends_go_at_once_when_the_sender_is_woken(rig: Rig) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        sender = sender_for(rig, settings_for(port), poll_interval_s=30.0)
        async with running(rig, sender):
            await asyncio.sleep(0.3)  # the first claim found nothing: it waits for its poll
            await rig.add_sends(3)
            sender.wake()  # what the consume loop does after its commit
            took = await until(all_in(rig, "sent", 3), within=10)

    assert took < 5.0, f"sent {took:.1f} s after the wake, not at once"
    assert len(sink.received) == 3


async def test_connections_are_kept_between_mails_and_a_closed_one_replaced(rig: Rig) -> None:
    sink = Sink()
    first = await rig.add_sends(5)
    with smtp_server(sink) as port:
        sender = sender_for(rig, settings_for(port), concurrency=5)
        async with running(rig, sender):
            await until(all_in(rig, "sent", 5), within=10)
            for _ in range(3):
                await rig.add_sends(5)
                sender.wake()
                await until(all_in(rig, "sent", len(await rig.sends())), within=10)
            relay = sender.relay
            assert relay is not None
            opened = relay.connections

    assert len(sink.received) == 20
    assert opened <= 5, f"{opened} connections for 20 mails, 5 at a time"
    assert len(first) == 5

    strict = Sink(one_per_session=True)
    rig.registry = CollectorRegistry()  # a second sender: metrics of its own
    more = await rig.add_sends(6)
    with smtp_server(strict) as port:
        sender = sender_for(rig, settings_for(port), concurrency=2)
        async with running(rig, sender):
            await until(all_in(rig, "sent", 26), within=10)
    sends = await rig.sends()
    assert len(strict.received) == 6, "each mail once, on a new session when one was closed"
    assert all(sends[i].attempts == 1 for i in more), "a closed session is not a failure"


async def test_a_sender_never_holds_more_sends_than_its_slots(
    postgres_factory: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL, while the consume loop stores new sends: each claim ≤ the free slots."""
    engine = make_engine(notifier_db(postgres_factory))
    rig = Rig(make_sessionmaker(engine), CollectorRegistry(), f"T{uuid.uuid4().hex[:10]}")
    claims: list[tuple[int, int]] = []

    async def counted(session: AsyncSession, model: type[Notification], **kw: Any) -> Any:
        rows = await claim_due(session, model, **kw)
        claims.append((len(rows), kw["limit"]))
        return rows

    monkeypatch.setattr("vigie_notifier.sender.claim_due", counted)
    try:
        await rig.add_sends(30)
        with smtp_server(Sink()) as port:
            sender = sender_for(rig, settings_for(port), concurrency=10)
            async with running(rig, sender):
                for _ in range(30):
                    await rig.add_sends(3)
                    sender.wake()
                await until(all_in(rig, "sent", 120), within=30)
    finally:
        await engine.dispose()

    over = [(got, limit) for got, limit in claims if got > limit]
    assert not over, f"claims that leased more than asked: {over}"
