"""The sender: a background task that delivers the pending notifications, once each.

It claims due sends of the channels it has with a lease (replicas share them), delivers
each outside any transaction (SMTP through kept connections, the SMS gateway), then records
the results, as many as are waiting in one transaction, each with its event: ``sent``
(``vigie.notification.sent.v1``, naming the recipients the relay refused while it took the
mail for the others), ``failed`` for good with the reason (``vigie.notification.failed.v1``),
or still ``pending`` with the next attempt after a growing backoff when the server is away.
It wakes when the consume loop stores new sends, else polls. The Message-ID and the gateway
reference derive from the send's idempotency key, so a send retried after a crash is
recognisable downstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Update, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.db.engine import transaction
from vigie_common.db.leases import claim_due
from vigie_common.db.outbox import add_event
from vigie_common.events.envelope import CloudEvent, new_event
from vigie_common.events.ids import derived_event_id
from vigie_common.events.notices import (
    NOTIFICATION_FAILED,
    NOTIFICATION_SENT,
    Channel,
    NotificationFailed,
    NotificationSent,
)
from vigie_common.events.topics import NOTIFICATIONS
from vigie_common.kafka.failures import describe
from vigie_common.logs import Throttle, get_logger
from vigie_common.tasks import BackgroundTask, TaskContext

from vigie_notifier.delivery import DeliveryFailed, Mailbox, Refusal, clean_reason
from vigie_notifier.mail_bytes import build_mail
from vigie_notifier.mailer import MailSettings
from vigie_notifier.metrics import NotifierMetrics
from vigie_notifier.models import Notification, OutboxEvent, Ticket
from vigie_notifier.sms_gateway import SmsSettings, send_sms
from vigie_notifier.smtp_relay import SmtpRelay

__all__ = ["Channels", "Sender"]

log = get_logger(__name__)

EVENT_SOURCE = "/vigie/notifier"


@dataclass(frozen=True, slots=True)
class Channels:
    """Where sends go: the SMTP relay and the SMS gateway (None: that channel waits)."""

    mail: MailSettings | None
    sms: SmsSettings | None


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A claimed send, copied out of its row (the row's session is closed by then)."""

    id: int
    ticket_id: str
    template: str
    channel: str
    recipients: list[dict[str, str | None]]
    message_id: str
    key: str
    subject: str | None
    text: str
    html: str | None
    attempts: int
    cause_event_id: str
    rule: str
    thread_id: str | None


@dataclass(frozen=True, slots=True)
class _Result:
    """What became of one delivery, waiting to be recorded with others in one transaction."""

    item: _Claimed
    attempt: int
    at: datetime
    failed: str | None = None
    """Refused for good: the reason."""
    retry: DeliveryFailed | None = None
    """Not delivered, worth another try: why."""
    retry_at: datetime | None = None
    refused: tuple[Refusal, ...] = ()
    """Recipients refused while the others took the message."""


_Queue = asyncio.Queue[tuple[_Result, asyncio.Future[None]] | None]
"""Results waiting for the recorder, each with the future its delivery awaits; None: stop."""


class Sender:
    """Delivers pending notifications; one per notifier process.

    Args:
        lease_s: How long a claimed send stays ours. A delivery is abandoned (and tried
            again later) after half of it, so the lease never runs out while the message
            may still be going out: another replica can never send it a second time.
        record_batch: Results recorded per transaction at most.
    """

    def __init__(
        self,
        channels: Channels,
        *,
        metrics: NotifierMetrics,
        owner: str,
        concurrency: int = 20,
        poll_interval_s: float = 1.0,
        lease_s: float = 120.0,
        retry_backoff_s: float = 5.0,
        max_retry_backoff_s: float = 300.0,
        record_batch: int = 100,
    ) -> None:
        self.channels = channels
        self.metrics = metrics
        self.owner = owner
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.lease = timedelta(seconds=lease_s)
        self.deadline_s = lease_s / 2
        self.retry_backoff_s = retry_backoff_s
        self.max_retry_backoff_s = max_retry_backoff_s
        self.record_batch = record_batch
        self.relay: SmtpRelay | None = None
        """The relay's kept connections while :meth:`run` runs."""
        self._gateway: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self._throttle = Throttle(60.0)
        ready = [c.value for c in Channel if self._ready(c)]
        self._claimable = Notification.channel.in_(ready) if ready else None

    def task(self) -> BackgroundTask:
        """The background task the worker runs."""
        return BackgroundTask(name="sender", run=self.run)

    def wake(self) -> None:
        """New sends were stored (the consume loop calls it after a commit): claim them now."""
        self._wake.set()

    async def run(self, ctx: TaskContext) -> None:
        """Until the worker stops: claim what is due, deliver it, record it."""
        mail, sms = self.channels.mail, self.channels.sms
        self.relay = SmtpRelay(mail, max_idle=self.concurrency) if mail is not None else None
        if sms is not None:
            self._gateway = httpx.AsyncClient(timeout=sms.timeout)
        results: _Queue = asyncio.Queue()
        recorder = asyncio.create_task(self._recorder(ctx, results))
        running: set[asyncio.Task[None]] = set()
        try:
            while not ctx.stop.is_set():
                self._wake.clear()  # before the claim: a commit during it still wakes us
                free = self.concurrency - len(running)
                claimed = await self._claim(ctx, free) if free > 0 else []
                for item in claimed:
                    task = asyncio.create_task(self._deliver(ctx, item, results))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if claimed and len(claimed) == free:
                    await asyncio.sleep(0)  # there may be more: claim again at once
                    continue
                await self._pause(ctx, running)
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            results.put_nowait(None)
            await recorder
            await self._close()

    async def _close(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        if self._gateway is not None:
            await self._gateway.aclose()
            self._gateway = None

    async def _pause(self, ctx: TaskContext, running: set[asyncio.Task[None]]) -> None:
        """Until new sends are stored, a slot frees while all are busy, or the poll is due."""
        woken = asyncio.ensure_future(self._wake.wait())
        stopping = asyncio.ensure_future(ctx.stop.wait())
        waits: set[asyncio.Future[Any]] = {woken, stopping}
        if len(running) >= self.concurrency:
            waits |= running
        try:
            await asyncio.wait(
                waits, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
            stopping.cancel()

    async def _claim(self, ctx: TaskContext, limit: int) -> list[_Claimed]:
        if self._claimable is None:  # no channel configured: leave the sends pending
            return []
        try:
            async with transaction(ctx.sessions) as session:
                rows = await claim_due(
                    session,
                    Notification,
                    owner=self.owner,
                    now=ctx.clock.now(),
                    lease=self.lease,
                    limit=limit,
                    where=self._claimable,
                )
                if not rows:
                    return []
                threads = await _threads(session, {row.ticket_id for row in rows})
                return [_copy(row, threads.get(row.ticket_id)) for row in rows]
        except (SQLAlchemyError, OSError) as exc:
            if self._throttle.allow("claim") is not None:
                log.warning("cannot claim pending sends; retrying", error=describe(exc))
            return []

    def _ready(self, channel: str) -> bool:
        return (self.channels.mail if channel == Channel.MAIL else self.channels.sms) is not None

    async def _deliver(self, ctx: TaskContext, item: _Claimed, results: _Queue) -> None:
        """Deliver one send, then wait until its result is recorded; never raises.

        The send holds its slot until then, so no more than ``concurrency`` sends are ever
        out of the table's sight: delivered (or not) but not yet recorded.
        """
        recorded = asyncio.get_running_loop().create_future()
        results.put_nowait((await self._attempt(ctx, item), recorded))
        await recorded

    async def _attempt(self, ctx: TaskContext, item: _Claimed) -> _Result:
        started = time.perf_counter()
        attempt = item.attempts + 1
        refused: tuple[Refusal, ...] = ()
        try:
            async with asyncio.timeout(self.deadline_s):
                if item.channel == Channel.MAIL:
                    refused = await self._mail(ctx, item)
                else:
                    await self._sms(item)
        except DeliveryFailed as failure:
            self.metrics.duration.labels(item.channel).observe(time.perf_counter() - started)
            if failure.permanent:
                return _Result(item, attempt, ctx.clock.now(), failed=failure.reason)
            return self._retry(ctx, item, attempt, failure)
        except TimeoutError:
            reason = f"not delivered within {self.deadline_s:g} s (half the send lease)"
            return self._retry(ctx, item, attempt, DeliveryFailed(reason, False))
        except Exception as exc:
            log.exception("send failed unexpectedly; retrying later", notification=item.id)
            unexpected = DeliveryFailed(describe(exc), permanent=False)
            return self._retry(ctx, item, attempt, unexpected)
        self.metrics.duration.labels(item.channel).observe(time.perf_counter() - started)
        return _Result(item, attempt, ctx.clock.now(), refused=refused)

    async def _mail(self, ctx: TaskContext, item: _Claimed) -> tuple[Refusal, ...]:
        settings, relay = self.channels.mail, self.relay
        assert settings is not None and relay is not None
        mail = build_mail(
            subject=item.subject or "",
            text=item.text,
            html=item.html,
            sender=settings.sender,
            recipients=[
                Mailbox(str(r.get("name") or ""), str(r["email"])) for r in item.recipients
            ],
            message_id=item.message_id,
            thread_id=item.thread_id,
            date=ctx.clock.now(),
        )
        delivered = await relay.deliver(mail)
        return delivered.refused

    async def _sms(self, item: _Claimed) -> None:
        settings = self.channels.sms
        assert settings is not None
        phone = item.recipients[0].get("phone")
        if not phone:
            raise DeliveryFailed("the recipient has no mobile number", permanent=True)
        await send_sms(
            to=phone, text=item.text, reference=item.key, settings=settings, client=self._gateway
        )

    def _retry(
        self, ctx: TaskContext, item: _Claimed, attempt: int, failure: DeliveryFailed
    ) -> _Result:
        delay = min(self.retry_backoff_s * 2 ** (attempt - 1), self.max_retry_backoff_s)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, self.max_retry_backoff_s))
        now = ctx.clock.now()
        self.metrics.retries.labels(item.channel).inc()
        if self._throttle.allow(f"retry-{item.channel}") is not None:
            log.warning(
                "send put back for later",
                channel=item.channel,
                notification=item.id,
                attempt=attempt,
                retry_in_s=round(delay, 1),
                reason=failure.reason,
            )
        return _Result(item, attempt, now, retry=failure, retry_at=now + timedelta(seconds=delay))

    async def _recorder(self, ctx: TaskContext, results: _Queue) -> None:
        """Record results as they come, all those waiting in one transaction, until None."""
        last = False
        while not last:
            first = await results.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.record_batch and not results.empty():
                more = results.get_nowait()
                if more is None:
                    last = True
                    break
                batch.append(more)
            try:
                await self._record(ctx, [result for result, _ in batch])
            except Exception:  # a bug: these sends stay leased, and go again after the lease
                log.exception("cannot record sends", count=len(batch))
            finally:
                for _, recorded in batch:
                    if not recorded.done():
                        recorded.set_result(None)

    async def _record(self, ctx: TaskContext, batch: list[_Result]) -> None:
        async def write(session: AsyncSession) -> list[_Result]:
            written: list[_Result] = []
            for result in batch:
                if await _write(session, result, self.owner):
                    written.append(result)
            return written

        written = await self._update(ctx, write)
        if any(result.retry is None for result in written):
            ctx.wake_relay()
        for result in written:
            if result.retry is None:
                self._recorded(result)

    def _recorded(self, result: _Result) -> None:
        item = result.item
        state = "failed" if result.failed else "sent"
        self.metrics.sends.labels(item.channel, item.template, state).inc()
        if result.refused:
            self.metrics.refused.labels(item.channel).inc(len(result.refused))
            log.warning(
                "recipients refused",
                ticket_id=item.ticket_id,
                template=item.template,
                refused=[refusal.reason for refusal in result.refused],
            )
        log.info(
            "notification sent" if result.failed is None else "notification failed",
            ticket_id=item.ticket_id,
            template=item.template,
            channel=item.channel,
            attempts=result.attempt,
            reason=result.failed,
        )

    async def _update(
        self, ctx: TaskContext, write: Callable[[AsyncSession], Awaitable[list[_Result]]]
    ) -> list[_Result]:
        """Run ``write`` in a transaction, retried while the database is away.

        The sends are done: their record must not be lost, nor a send repeated before its
        lease ends.
        """
        delay = 0.5
        while True:
            try:
                async with transaction(ctx.sessions) as session:
                    return await write(session)
            except (SQLAlchemyError, OSError) as exc:
                if self._throttle.allow("record") is not None:
                    log.warning("cannot record a send; retrying", error=describe(exc))
                if not await ctx.sleep(delay):
                    return []
                delay = min(delay * 2, 10.0)


async def _threads(session: AsyncSession, ticket_ids: set[str]) -> dict[str, str | None]:
    """Each ticket's thread (the Message-ID its mails answer)."""
    rows = await session.execute(
        select(Ticket.id, Ticket.thread_id).where(Ticket.id.in_(ticket_ids))
    )
    return {row.id: row.thread_id for row in rows}


async def _write(session: AsyncSession, result: _Result, owner: str) -> bool:
    """One result on its row (if still ours), with its event when the send is over."""
    item = result.item
    if result.retry is not None:
        update_ = _owned(item.id, owner).values(
            attempts=result.attempt,
            last_error=result.retry.reason[:1000],
            due_at=result.retry_at,
            lease_owner=None,
            lease_expires_at=None,
        )
        done = await session.execute(update_)
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]
    note = result.failed or _refusals(item, result.refused)
    done = await session.execute(
        _owned(item.id, owner).values(
            state="failed" if result.failed else "sent",
            attempts=result.attempt,
            last_error=note[:1000] if note else None,
            sent_at=None if result.failed else result.at,
            due_at=None,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    event = _event(item, result.attempt, result.at, result.failed, result.refused)
    await add_event(session, OutboxEvent, event, topic=NOTIFICATIONS, now=result.at)
    return True


def _refusals(item: _Claimed, refused: tuple[Refusal, ...]) -> str | None:
    """The row's note for a mail some recipients refused: who (by name) and what was said."""
    if not refused:
        return None
    names = {
        str(r.get("email") or "").casefold(): str(r.get("name") or "") for r in item.recipients
    }
    parts = [
        f"{names.get(refusal.address.casefold()) or '(no name)'}: {refusal.reason}"
        for refusal in refused
    ]
    return clean_reason(f"sent, but {len(refused)} recipient(s) refused: " + "; ".join(parts))


def _owned(notification_id: int, owner: str) -> Update:
    return (
        update(Notification)
        .where(Notification.id == notification_id, Notification.lease_owner == owner)
        .execution_options(synchronize_session=False)
    )


def _names(item: _Claimed, refused: tuple[Refusal, ...]) -> tuple[str, ...]:
    """The names of the refused recipients (events carry names, never addresses)."""
    addresses = {refusal.address.casefold() for refusal in refused}
    return tuple(
        str(r.get("name") or "")
        for r in item.recipients
        if str(r.get("email") or "").casefold() in addresses
    )


def _copy(row: Notification, thread_id: str | None) -> _Claimed:
    return _Claimed(
        id=row.id,
        ticket_id=row.ticket_id,
        template=row.template,
        channel=row.channel,
        recipients=list(row.recipients),
        message_id=row.message_id,
        key=row.key,
        subject=row.subject,
        text=row.text,
        html=row.html,
        attempts=row.attempts,
        cause_event_id=row.cause_event_id,
        rule=row.rule,
        thread_id=thread_id,
    )


def _event(
    item: _Claimed,
    attempt: int,
    now: datetime,
    failed: str | None,
    refused: tuple[Refusal, ...] = (),
) -> CloudEvent[NotificationSent] | CloudEvent[NotificationFailed]:
    names = tuple(str(r.get("name") or "") for r in item.recipients)
    common = {
        "ticket_id": item.ticket_id,
        "template": item.template,
        "channel": Channel(item.channel),
        "recipients": names,
        "message_id": item.message_id,
        "cause_event_id": item.cause_event_id,
        "rule": item.rule,
        "at": now,
        "attempts": attempt,
    }
    if failed is None:
        kind, sent = NOTIFICATION_SENT, NotificationSent(**common, refused=_names(item, refused))
        return new_event(
            id=derived_event_id(item.key, kind),
            type=kind,
            source=EVENT_SOURCE,
            subject=item.ticket_id,
            data=sent,
            time=now,
        )
    kind = NOTIFICATION_FAILED
    data = NotificationFailed(**common, reason=failed)
    return new_event(
        id=derived_event_id(item.key, kind),
        type=kind,
        source=EVENT_SOURCE,
        subject=item.ticket_id,
        data=data,
        time=now,
    )
