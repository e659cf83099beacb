"""The notifier's delivery guarantees on real parts: an SMTP relay that is away, a notifier
killed with sends recorded and not yet made, a recipient the relay refuses for good.

* The relay down while 200 decisions are recorded: they wait (``pending``, retried with
  backoff, on the read API and the gauge); once it is back every mail goes exactly once.
* A notifier process SIGKILLed with its sends recorded and pending (some leased, stuck on a
  hung relay): the next process sends each exactly once, the leased ones once their lease
  ends. Killed mid-stream, after some mails went and while the rest wait: the rest once,
  none again.
* Killed in flight (the relay answering ``250``): none lost; what is sent again is exactly
  what the relay accepted and the dead process had not recorded, with its Message-ID.
* 550 for every recipient: ``failed`` with the relay's reply, published, listed, not retried.

Every customer here is the test's own (its contacts only in the test's database) and no team
is configured, so the tickets other tests left on the session's broker send nothing: the
``notification`` table, the sinks and the gauges hold this test's sends only. The process
tests run on a Tansu of their own (the ``vigie-notifier`` consumer group starts empty).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from vigie_common.db.engine import make_engine
from vigie_common.events.envelope import CloudEvent
from vigie_common.events.probes import ObservationWindow, VerdictReached
from vigie_common.events.tickets import CanonicalTicket, TicketState
from vigie_common.events.topics import NOTIFICATIONS
from vigie_common.kafka.tansu import EmbeddedBroker, free_port
from vigie_lab import MailSink
from vigie_lab.mail_sink import ReceivedMail
from vigie_notifier.models import Notification, Ticket

from tests.notifier.notifier_process import (
    NotifierProcess,
    Notifiers,
    metric_value,
    notifier_processes,
)
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
from tests.notifier.test_rendering import real_ticket, stable_verdict
from tests.support.database import DatabaseFactory
from tests.support.kafka import read_records

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
RECIPIENT = "jean.dupont@example.com"
SENT = "vigie.notification.sent.v1"
FAILED = "vigie.notification.failed.v1"
PENDING_GAUGE = "vigie_notifier_notifications_pending"
NO_TEAMS: dict[str, str] = {}
"""No team recipients: other tests' tickets on the shared broker decide nothing to send."""

log = logging.getLogger(__name__)


# --- the sends: a customer of the test's own, tickets restored, a final stable verdict each ---


def own_customer() -> str:
    """A customer no other test's ticket names: its contacts are this test's alone."""
    return f"CLIENT LIVRAISON {uuid.uuid4().hex[:10].upper()}"


def mail_contacts(customer: str, recipients: str = f"DUPONT Jean, , {RECIPIENT};") -> str:
    """The contacts file: the customer told by mail only (one mail per decision, no SMS)."""
    return f"customers:\n  - name: {customer}\n    recipients: '{recipients}'\n    channel: mail\n"


def restored_tickets(customer: str, count: int) -> list[CanonicalTicket]:
    """``count`` tickets of ``customer`` with numbers of their own, restored in one version.

    Restored as they start, their GTR clock stops at once (no warning): a final stable
    observation verdict then decides one CLT5 mail each.
    """
    base = 2_700_000_000 + secrets.randbelow(90_000_000)
    return [
        real_ticket(
            id=f"tkt-delivery-{base + i}",
            upstream_id=str(base + i),
            customer=customer,
            state=TicketState.IN_OBSERVATION,
            restored_at=datetime(2025, 5, 30, 12, 40, tzinfo=PARIS),
        )
        for i in range(count)
    ]


def final_verdict(ticket: CanonicalTicket) -> CloudEvent[VerdictReached]:
    window = ObservationWindow(
        started=datetime(2025, 6, 16, 16, 30, tzinfo=PARIS),
        closes_at=datetime(2025, 6, 19, 10, 15, tzinfo=PARIS),
        interval_s=3600,
        final=True,
    )
    return verdict_event(
        stable_verdict(ticket_id=ticket.id, upstream_id=ticket.upstream_id, observation=window)
    )


async def publish_decisions(
    bootstrap: str, tables: Tables, tickets: Sequence[CanonicalTicket], *, within: float = 30.0
) -> None:
    """The tickets, then (once the notifier holds them all) their final verdicts.

    Tickets and verdicts are on two topics: a verdict read before its ticket is retried with
    a growing backoff, which would only slow the test down.
    """
    await send_ticket(bootstrap, *(ticket_event(t) for t in tickets))
    ids = {t.id for t in tickets}

    async def stored() -> bool:
        return await tables.tickets_stored(ids) == len(ids)

    await until(stored, within=within, every=0.2)
    await send_verdict(bootstrap, *(final_verdict(t) for t in tickets))


# --- the notifier's table, read directly (what the read API does not show: leases) ---


@dataclass(frozen=True)
class Send:
    """One ``notification`` row."""

    id: int
    ticket_id: str
    state: str
    attempts: int
    message_id: str
    last_error: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    sent_at: datetime | None


class Tables:
    """The notifier's database, read by the test."""

    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url)

    async def sends(self) -> list[Send]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(Notification).order_by(Notification.id))
            return [
                Send(
                    id=r.id,
                    ticket_id=r.ticket_id,
                    state=r.state,
                    attempts=r.attempts,
                    message_id=r.message_id,
                    last_error=r.last_error,
                    lease_owner=r.lease_owner,
                    lease_expires_at=r.lease_expires_at,
                    sent_at=r.sent_at,
                )
                for r in rows
            ]

    async def tickets_stored(self, ids: set[str]) -> int:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.id.in_(ids))
            )
            return int(found or 0)


@asynccontextmanager
async def notifier_tables(db_url: str) -> AsyncIterator[Tables]:
    tables = Tables(db_url)
    try:
        yield tables
    finally:
        await tables.engine.dispose()


class Timeline:
    """Seconds since the test began, by step, logged for the report."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, step: str) -> float:
        self.marks[step] = round(time.monotonic() - self.start, 2)
        return self.marks[step]

    def __str__(self) -> str:
        return ", ".join(f"{step} {at} s" for step, at in self.marks.items())


def states(sends: Iterable[Send]) -> Counter[str]:
    return Counter(s.state for s in sends)


def message_ids(mails: Iterable[ReceivedMail]) -> Counter[str]:
    """How many times each Message-ID reached the relay."""
    return Counter(str(m.message["Message-ID"]) for m in mails)


def check_each_mail_once(
    mails: Sequence[ReceivedMail], sends: Sequence[Send], tickets: Sequence[CanonicalTicket]
) -> None:
    """One mail per ticket, each send's Message-ID exactly once, nothing else."""
    assert len(sends) == len(tickets), states(sends)
    assert states(sends) == {"sent": len(tickets)}, states(sends)
    assert {s.ticket_id for s in sends} == {t.id for t in tickets}
    counted = message_ids(mails)
    twice = {mid: n for mid, n in counted.items() if n > 1}
    assert not twice, f"{len(twice)} mail(s) received more than once: {twice}"
    assert set(counted) == {s.message_id for s in sends}
    assert len(mails) == len(tickets)
    ticket_of = {s.message_id: s.ticket_id for s in sends}
    number_of = {t.id: t.upstream_id for t in tickets}
    for mail in mails:  # each mail is its ticket's: "ORANGE INFO INCIDENT <number> / …"
        number = number_of[ticket_of[str(mail.message["Message-ID"])]]
        assert str(mail.message["Subject"]).startswith(f"ORANGE INFO INCIDENT {number} /")
        assert mail.rcpt_tos == (RECIPIENT,)


async def notification_events(
    bootstrap: str, tickets: Sequence[CanonicalTicket], expect: int, *, grace: float = 1.5
) -> list[dict[str, Any]]:
    """The ``vigie.notifications.v1`` events of the tickets (sent and failed)."""
    records = await read_records(
        bootstrap,
        NOTIFICATIONS,
        keys={t.id for t in tickets},
        expect=expect,
        within=30,
        grace=grace,
    )
    return [json.loads(r.value) for r in records]


def check_sent_events(
    events: Sequence[dict[str, Any]], sends: Sequence[Send], *, killed: bool = False
) -> int:
    """One ``sent`` event per send, with ids of their own, naming the send's Message-ID.

    ``killed``: a process was SIGKILLed while its relay published; the next one publishes
    again what it had published and not yet marked (the outbox is at least once). Such a
    record must be the same event (same id, same content): a consumer's inbox skips it.
    Returns how many records were such repeats.
    """
    first: dict[str, dict[str, Any]] = {}
    again = 0
    for event in events:
        if event["id"] in first:
            assert event == first[event["id"]], "two events under one id"
            again += 1
        else:
            first[event["id"]] = event
    assert killed or again == 0, f"{again} event(s) published twice without a crash"
    unique = list(first.values())
    assert Counter(e["type"] for e in unique) == {SENT: len(sends)}
    assert sorted(e["data"]["message_id"] for e in unique) == sorted(s.message_id for s in sends)
    return again


async def api_gauge(base_url: str, name: str, **labels: str) -> float:
    """A sample of the worker's ``/metrics`` page, as Prometheus scrapes it."""
    async with httpx.AsyncClient(base_url=base_url, timeout=5, trust_env=False) as client:
        page = await client.get("/metrics")
    assert page.status_code == 200, page.text
    return metric_value(page.text, name, **labels)


# --- 1. the relay down while 200 decisions are recorded ---

MANY = 200


async def test_smtp_down_during_200_sends_loses_none_and_doubles_none(
    databases: DatabaseFactory,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    db = notifier_db(databases)
    customer = own_customer()
    await import_contact_file(db, tmp_path, mail_contacts(customer))
    tickets = restored_tickets(customer, MANY)
    async with (
        notifier_tables(db) as tables,
        MailSink.start(tmp_path / "mail-before") as relay,
    ):
        port = relay.port
        await relay.close()  # the relay is away before the first decision: refused connections
        async with running_notifier(db, kafka_bootstrap, relay, None, teams=NO_TEAMS) as notifier:
            await publish_decisions(kafka_bootstrap, tables, tickets)

            async def all_retried() -> bool:
                sends = await tables.sends()
                return len(sends) == MANY and all(s.attempts >= 2 for s in sends)

            await until(all_retried, within=30, every=0.2)
            await until(lambda: notifier.metric(PENDING_GAUGE, channel="mail") == MANY)
            pending = await notifier.json("/v1/notifications", state="pending", limit=500)
            gauge = await api_gauge(notifier.base_url, PENDING_GAUGE, channel="mail")
            retries = notifier.metric("vigie_notifier_send_retries_total", channel="mail")
            down = await tables.sends()

            async with MailSink.start(tmp_path / "mail", port=port) as mail:  # back
                started = time.monotonic()

                async def drained() -> bool:
                    return states(await tables.sends()) == {"sent": MANY}

                await until(drained, within=30, every=0.1)
                drain_s = time.monotonic() - started
                await asyncio.sleep(2.5)  # past the longest backoff: nothing more may come
                mails = list(mail.received)
                sends = await tables.sends()
                left = await notifier.json("/v1/notifications", state="pending", limit=500)
                sent_list = await notifier.json("/v1/notifications", state="sent", limit=500)
                await until(lambda: notifier.metric(PENDING_GAUGE, channel="mail") == 0)
                gauge_after = await api_gauge(notifier.base_url, PENDING_GAUGE, channel="mail")
                sent_total = notifier.metric(
                    "vigie_notifier_notifications_total",
                    channel="mail",
                    template="CLT5",
                    result="sent",
                )
            events = await notification_events(kafka_bootstrap, tickets, MANY)

    log.warning(
        "%d mails drained in %.2f s once the relay was back (%d retries while it was away)",
        MANY,
        drain_s,
        retries,
    )
    # While the relay was away: every decision recorded, pending, tried and put back.
    assert states(down) == {"pending": MANY}
    assert all(s.last_error and "connect" in s.last_error.lower() for s in down), down[0]
    assert all(s.sent_at is None for s in down)
    assert len(pending["items"]) == MANY and pending["next"] is None
    assert {i["ticket_id"] for i in pending["items"]} == {t.id for t in tickets}
    assert all(i["attempts"] >= 2 and i["next_attempt_at"] for i in pending["items"])
    assert gauge == MANY
    assert retries >= 2 * MANY
    # Once it is back: each mail exactly once, the rows sent, one event each.
    check_each_mail_once(mails, sends, tickets)
    assert {s.message_id for s in sends} == {s.message_id for s in down}  # ids never change
    assert left["items"] == [] and gauge_after == 0
    assert len(sent_list["items"]) == MANY
    assert sent_total == MANY
    check_sent_events(events, sends)
    assert drain_s < 20


# --- 2. a notifier killed with its sends recorded, not made ---

KILLED_SENDS = 40
CONCURRENCY = 10
LEASE_S = 10.0
"""Long enough for B to be up while A's leases still run: B must wait for them to end."""


def process_env(contacts: Path, smtp_port: int) -> dict[str, str]:
    """A's and B's settings (the same): the relay's port, the contacts, a short lease."""
    return {
        "VIGIE_NOTIFIER_SMTP__PORT": str(smtp_port),
        "VIGIE_NOTIFIER_SMTP__TIMEOUT_S": "5",  # half the lease: a delivery's deadline
        "VIGIE_NOTIFIER_CONTACTS_FILE": str(contacts),
        "VIGIE_NOTIFIER_SEND_LEASE_S": str(LEASE_S),
        "VIGIE_NOTIFIER_SEND_CONCURRENCY": str(CONCURRENCY),
    }


def contacts_file(folder: Path, customer: str) -> Path:
    path = folder / "contacts.yaml"
    path.write_text(mail_contacts(customer), encoding="utf-8")
    return path


@asynccontextmanager
async def silent_relay(port: int) -> AsyncIterator[list[asyncio.StreamWriter]]:
    """A listener on ``port`` that accepts connections and never greets: an SMTP relay hung.

    A client waits there for its ``220`` (until its timeout), holding its send's lease.
    """
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", port)
    try:
        yield held
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


def pending_gauge_is(process: NotifierProcess, value: float) -> Callable[[], Awaitable[bool]]:
    """A check for :func:`until`: the process's ``/metrics`` shows ``value`` mails pending."""

    async def check() -> bool:
        return await process.metric(PENDING_GAUGE, channel="mail") == value

    return check


async def drain_after_restart(
    notifiers: Notifiers, tables: Tables, mail: MailSink, expect: int, timeline: Timeline
) -> tuple[NotifierProcess, list[Send]]:
    """B, started with the relay up: until every send is ``sent``, and a while after."""
    b = notifiers.launch("b")
    await b.wait_api()  # the sender runs; /readyz waits for the dead member to leave the group
    timeline.mark("B up")

    async def drained() -> bool:
        b.check_alive()
        return states(await tables.sends()) == {"sent": expect}

    await until(drained, within=30, every=0.1)
    timeline.mark("all sent")
    await asyncio.sleep(2.5)  # past the longest backoff: nothing more may come
    return b, await tables.sends()


async def test_a_notifier_killed_before_sending_sends_once_after_restart(
    databases: DatabaseFactory, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    db = notifier_db(databases)
    await own_broker.start()
    bootstrap = own_broker.bootstrap_servers
    customer = own_customer()
    tickets = restored_tickets(customer, KILLED_SENDS)
    port = free_port()  # the relay's: nothing listens there yet
    env = process_env(contacts_file(tmp_path, customer), port)
    timeline = Timeline()
    async with (
        notifier_tables(db) as tables,
        notifier_processes(db, bootstrap, tmp_path, env=env) as notifiers,
    ):
        # A: nothing listens on the relay's port; every send is recorded, tried, put back.
        a = await notifiers.start("a")
        timeline.mark("A ready")
        await publish_decisions(bootstrap, tables, tickets)

        async def all_tried() -> bool:
            a.check_alive()
            sends = await tables.sends()
            return len(sends) == KILLED_SENDS and all(s.attempts >= 1 for s in sends)

        await until(all_tried, within=30, every=0.2)
        timeline.mark("all recorded and tried")
        pending = await a.json("/v1/notifications", state="pending", limit=500)
        await until(pending_gauge_is(a, KILLED_SENDS), within=10, every=0.2)
        # Then the relay hangs: A claims as many sends as it may, and waits on each.
        async with silent_relay(port) as held:

            async def leased() -> bool:
                a.check_alive()
                sends = await tables.sends()
                mine = sum(s.lease_owner is not None for s in sends)
                return len(held) >= CONCURRENCY and mine == CONCURRENCY

            await until(leased, within=10, every=0.05)
            timeline.mark("A holds its leases")
            await a.kill()
            timeline.mark("A killed")
            connections = len(held)
        at_kill = await tables.sends()
        # B: the same settings, and the relay up on the same port.
        async with MailSink.start(tmp_path / "mail", port=port) as mail:
            _, sends = await drain_after_restart(notifiers, tables, mail, KILLED_SENDS, timeline)
            mails = list(mail.received)
        events = await notification_events(bootstrap, tickets, KILLED_SENDS)

    log.warning("killed before sending: %s", timeline)
    assert a.process.returncode == -signal.SIGKILL
    assert len(pending["items"]) == KILLED_SENDS
    assert all(i["attempts"] >= 1 and i["last_error"] for i in pending["items"])
    assert connections >= CONCURRENCY
    assert all(s.state == "pending" and s.sent_at is None for s in at_kill)
    check_each_mail_once(mails, sends, tickets)
    check_sent_events(events, sends)
    # What A held when it died waited for its lease to end; the rest went before that.
    held_by_a = {s.id: s.lease_expires_at for s in at_kill if s.lease_owner is not None}
    assert len(held_by_a) == CONCURRENCY
    first_expiry = min(e for e in held_by_a.values() if e is not None)
    for send in sends:
        assert send.sent_at is not None
        expiry = held_by_a.get(send.id)
        if send.id in held_by_a:
            assert expiry is not None and send.sent_at >= expiry, send
        else:
            assert send.sent_at < first_expiry, send


MID_STREAM_SENDS = 60
STOP_AFTER = 15


async def test_a_notifier_killed_mid_stream_sends_the_rest_once_after_restart(
    postgres_factory: DatabaseFactory, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Killed after some mails went and while the rest wait: the rest once, none again.

    The relay starts answering ``451`` once some mails went, and A is killed once every mail
    the relay accepted is recorded ``sent``: the kill lands while the rest are pending, not
    between the relay's ``250`` and the record (where a crash may send a mail twice).
    """
    db = notifier_db(postgres_factory)
    await own_broker.start()
    bootstrap = own_broker.bootstrap_servers
    customer = own_customer()
    tickets = restored_tickets(customer, MID_STREAM_SENDS)
    timeline = Timeline()
    async with (
        notifier_tables(db) as tables,
        MailSink.start(tmp_path / "mail-a") as first,
    ):
        env = process_env(contacts_file(tmp_path, customer), first.port)
        async with notifier_processes(db, bootstrap, tmp_path, env=env) as notifiers:
            a = await notifiers.start("a")
            timeline.mark("A ready")
            await publish_decisions(bootstrap, tables, tickets)
            await until(lambda: len(first.received) >= STOP_AFTER, within=30, every=0.02)
            first.fail_next(100_000, 451, "4.3.2 relay busy, try again later")
            timeline.mark(f"relay busy after {len(first.received)} mails")

            async def settled() -> bool:
                a.check_alive()
                sends = await tables.sends()
                counted = states(sends)
                waiting = [s for s in sends if s.state == "pending"]
                return (
                    len(sends) == MID_STREAM_SENDS
                    and counted["sent"] == len(first.received)
                    and bool(waiting)
                    and all(s.attempts >= 1 for s in waiting)
                )

            await until(settled, within=30, every=0.05)
            await a.kill()
            timeline.mark("A killed")
            at_kill = await tables.sends()
            before = list(first.received)
            await first.close()
            async with MailSink.start(tmp_path / "mail-b", port=first.port) as second:
                _, sends = await drain_after_restart(
                    notifiers, tables, second, MID_STREAM_SENDS, timeline
                )
                after = list(second.received)
        events = await notification_events(bootstrap, tickets, MID_STREAM_SENDS)

    log.warning("killed mid-stream: %s", timeline)
    assert a.process.returncode == -signal.SIGKILL
    sent_by_a = {s.id: s for s in at_kill if s.state == "sent"}
    assert STOP_AFTER <= len(sent_by_a) < MID_STREAM_SENDS
    assert len(before) == len(sent_by_a)
    assert {str(m.message["Message-ID"]) for m in before} == {
        s.message_id for s in sent_by_a.values()
    }
    assert not set(message_ids(before)) & set(message_ids(after)), "sent again after restart"
    check_each_mail_once(before + after, sends, tickets)
    republished = check_sent_events(events, sends, killed=True)
    log.warning("killed mid-stream: %d sent event(s) published again by B", republished)
    for send in sends:  # what A recorded sent, B left alone
        if send.id in sent_by_a:
            assert send == sent_by_a[send.id]


async def test_a_notifier_killed_in_flight_loses_none_and_repeats_only_unrecorded_mails(
    postgres_factory: DatabaseFactory, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Killed while mails go (the relay answering ``250``): at least once, never silently.

    A crash between the relay's ``250`` and the ``sent`` record cannot be told from a crash
    before the mail went: the next process sends it again, with the same Message-ID (a
    receiving client folds it). The repeats are exactly the mails the relay accepted that
    were not recorded, at most one per send in flight; nothing recorded goes again.
    """
    db = notifier_db(postgres_factory)
    await own_broker.start()
    bootstrap = own_broker.bootstrap_servers
    customer = own_customer()
    tickets = restored_tickets(customer, MID_STREAM_SENDS)
    timeline = Timeline()
    async with (
        notifier_tables(db) as tables,
        MailSink.start(tmp_path / "mail-a") as first,
    ):
        env = process_env(contacts_file(tmp_path, customer), first.port)
        async with notifier_processes(db, bootstrap, tmp_path, env=env) as notifiers:
            a = await notifiers.start("a")
            timeline.mark("A ready")
            await publish_decisions(bootstrap, tables, tickets)
            await until(lambda: len(first.received) >= STOP_AFTER, within=30, every=0.005)
            await a.kill()
            timeline.mark(f"A killed after {len(first.received)} mails")
            at_kill = await tables.sends()
            await first.close()  # a DATA A finished before dying is in ``received`` by now
            before = list(first.received)
            async with MailSink.start(tmp_path / "mail-b", port=first.port) as second:
                _, sends = await drain_after_restart(
                    notifiers, tables, second, MID_STREAM_SENDS, timeline
                )
                after = list(second.received)
        events = await notification_events(bootstrap, tickets, MID_STREAM_SENDS)

    recorded = {s.message_id for s in at_kill if s.state == "sent"}
    accepted = set(message_ids(before))
    repeated = {mid for mid, n in (message_ids(before) + message_ids(after)).items() if n > 1}
    log.warning(
        "killed in flight: %s; %d mails accepted, %d recorded sent at the kill, "
        "%d leased at the kill, %d sent again after the restart",
        timeline,
        len(accepted),
        len(recorded),
        sum(s.lease_owner is not None for s in at_kill),
        len(repeated),
    )
    assert a.process.returncode == -signal.SIGKILL
    assert recorded <= accepted  # recorded sent only once the relay said 250
    assert repeated == accepted - recorded  # again: what the relay took and A had not recorded
    assert len(repeated) <= CONCURRENCY
    assert not set(message_ids(after)) & recorded  # nothing recorded went again
    assert set(message_ids(after)) == {s.message_id for s in sends} - recorded
    assert states(sends) == {"sent": MID_STREAM_SENDS}  # none lost
    republished = check_sent_events(events, sends, killed=True)  # one per send, repeats too
    log.warning("killed in flight: %d sent event(s) published again by B", republished)


# --- 3. a recipient refused for good ---

REFUSED = ("jean.dupont@example.com", "lea.martin@example.com")
REFUSAL = (550, "5.1.1 mailbox unavailable")


async def test_a_recipient_refused_for_good_is_failed_with_its_reason_and_not_retried(
    databases: DatabaseFactory,
    kafka_bootstrap: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = notifier_db(databases)
    customer = own_customer()
    recipients = f"DUPONT Jean, , {REFUSED[0]}; MARTIN Léa, , {REFUSED[1]};"
    await import_contact_file(db, tmp_path, mail_contacts(customer, recipients))
    [ticket] = restored_tickets(customer, 1)
    caplog.set_level(logging.INFO, logger="vigie_lab.mail_sink")

    def refusals() -> int:
        return sum(r.getMessage().startswith("mail sink refused recipient") for r in caplog.records)

    async with (
        notifier_tables(db) as tables,
        MailSink.start(tmp_path / "mail", reject=dict.fromkeys(REFUSED, REFUSAL)) as mail,
        running_notifier(db, kafka_bootstrap, mail, None, teams=NO_TEAMS) as notifier,
    ):
        await publish_decisions(kafka_bootstrap, tables, [ticket])

        async def failed() -> bool:
            return states(await tables.sends()) == {"failed": 1}

        await until(failed, within=30)
        refused_at_first = refusals()
        await asyncio.sleep(3.0)  # three times the longest backoff: a retry would be seen
        [send] = await tables.sends()
        listed = await notifier.json("/v1/notifications", state="failed", limit=500)
        pending = await notifier.json("/v1/notifications", state="pending", limit=500)
        history = await notifier.json(f"/v1/tickets/{ticket.id}/notifications")
        events = await notification_events(kafka_bootstrap, [ticket], 1, grace=1.0)
        await until(lambda: notifier.metric("vigie_notifier_notifications_failed") == 1)
        counters = {
            name: notifier.metric(name, **labels)
            for name, labels in {
                "vigie_notifier_notifications_total": {
                    "channel": "mail",
                    "template": "CLT5",
                    "result": "failed",
                },
                "vigie_notifier_send_retries_total": {"channel": "mail"},
            }.items()
        }
        mails = list(mail.received)

    # Recorded failed, with the relay's reply (no address in it), after one attempt.
    assert send.state == "failed" and send.attempts == 1 and send.sent_at is None
    reason = send.last_error
    assert reason is not None
    assert reason.startswith("all 2 recipients refused: 550 5.1.1 mailbox unavailable"), reason
    assert "@" not in reason
    # Published as vigie.notification.failed.v1, with the same reason.
    [event] = events
    assert event["type"] == FAILED
    assert event["data"]["reason"] == reason
    assert event["data"]["attempts"] == 1
    assert event["data"]["message_id"] == send.message_id
    assert event["data"]["template"] == "CLT5" and event["data"]["channel"] == "mail"
    assert event["data"]["recipients"] == ["DUPONT Jean", "MARTIN Léa"]  # names, no address
    # Listed as failed, not pending; the ticket's history says so.
    [item] = [i for i in listed["items"] if i["ticket_id"] == ticket.id]
    assert item["state"] == "failed" and item["last_error"] == reason
    assert item["attempts"] == 1 and item["next_attempt_at"] is None
    assert pending["items"] == []
    [decision] = history["decisions"]
    assert [n["state"] for n in decision["notifications"]] == ["failed"]
    # Not retried: the relay saw one attempt (two recipients refused), and nothing since.
    assert refused_at_first == refusals() == len(REFUSED)
    assert mails == []
    assert counters == {
        "vigie_notifier_notifications_total": 1,
        "vigie_notifier_send_retries_total": 0,
    }
