"""The sender: a background task that delivers the pending notifications, once each.

It claims due sends with a lease (replicas share them), delivers each outside any
transaction (SMTP, the SMS gateway), then records the result in one transaction with its
event: ``sent`` (``vigie.notification.sent.v1``), ``failed`` for good with the reason
(``vigie.notification.failed.v1``), or still ``pending`` with the next attempt after a growing
backoff when the server is away. The Message-ID and the gateway reference derive from the
send's idempotency key, so a send retried after a crash is recognisable downstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Update, update
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

from vigie_notifier.delivery import DeliveryFailed, Mailbox
from vigie_notifier.mailer import MailSettings, build_message, send_mail
from vigie_notifier.metrics import NotifierMetrics
from vigie_notifier.models import Notification, OutboxEvent, Ticket
from vigie_notifier.sms_gateway import SmsSettings, send_sms

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


class Sender:
    """Delivers pending notifications; one per notifier process."""

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
    ) -> None:
        self.channels = channels
        self.metrics = metrics
        self.owner = owner
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.lease = timedelta(seconds=lease_s)
        self.retry_backoff_s = retry_backoff_s
        self.max_retry_backoff_s = max_retry_backoff_s
        self._throttle = Throttle(60.0)

    def task(self) -> BackgroundTask:
        """The background task the worker runs."""
        return BackgroundTask(name="sender", run=self.run)

    async def run(self, ctx: TaskContext) -> None:
        """Until the worker stops: claim what is due, deliver it, record it."""
        running: set[asyncio.Task[None]] = set()
        try:
            while not ctx.stop.is_set():
                free = self.concurrency - len(running)
                claimed = await self._claim(ctx, free) if free > 0 else []
                for item in claimed:
                    task = asyncio.create_task(self._deliver(ctx, item))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if claimed and len(claimed) == free:
                    await asyncio.sleep(0)
                    continue
                if running and not claimed:
                    await asyncio.wait(
                        running, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    continue
                if not await ctx.sleep(self.poll_interval_s):
                    break
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def _claim(self, ctx: TaskContext, limit: int) -> list[_Claimed]:
        try:
            async with transaction(ctx.sessions) as session:
                rows = await claim_due(
                    session,
                    Notification,
                    owner=self.owner,
                    now=ctx.clock.now(),
                    lease=self.lease,
                    limit=limit,
                )
                return [_copy(row) for row in rows if self._ready(row.channel)]
        except (SQLAlchemyError, OSError) as exc:
            if self._throttle.allow("claim") is not None:
                log.warning("cannot claim pending sends; retrying", error=describe(exc))
            return []

    def _ready(self, channel: str) -> bool:
        return (self.channels.mail if channel == Channel.MAIL else self.channels.sms) is not None

    async def _deliver(self, ctx: TaskContext, item: _Claimed) -> None:
        """Deliver one send and record what happened; never raises."""
        started = time.perf_counter()
        attempt = item.attempts + 1
        try:
            if item.channel == Channel.MAIL:
                await self._mail(ctx, item)
            else:
                await self._sms(item)
        except DeliveryFailed as failure:
            self.metrics.duration.labels(item.channel).observe(time.perf_counter() - started)
            if failure.permanent:
                await self._record(ctx, item, attempt, failed=failure.reason)
            else:
                await self._retry(ctx, item, attempt, failure)
            return
        except Exception as exc:
            log.exception("send failed unexpectedly; retrying later", notification=item.id)
            await self._retry(ctx, item, attempt, DeliveryFailed(describe(exc), permanent=False))
            return
        self.metrics.duration.labels(item.channel).observe(time.perf_counter() - started)
        await self._record(ctx, item, attempt, failed=None)

    async def _mail(self, ctx: TaskContext, item: _Claimed) -> None:
        settings = self.channels.mail
        assert settings is not None
        async with ctx.sessions() as session:
            ticket = await session.get(Ticket, item.ticket_id)
        message = build_message(
            subject=item.subject or "",
            text=item.text,
            html=item.html,
            sender=settings.sender,
            recipients=[
                Mailbox(str(r.get("name") or ""), str(r["email"])) for r in item.recipients
            ],
            message_id=item.message_id,
            thread_id=ticket.thread_id if ticket is not None else None,
            date=ctx.clock.now(),
        )
        await send_mail(message, settings)

    async def _sms(self, item: _Claimed) -> None:
        settings = self.channels.sms
        assert settings is not None
        phone = item.recipients[0].get("phone")
        if not phone:
            raise DeliveryFailed("the recipient has no mobile number", permanent=True)
        await send_sms(to=phone, text=item.text, reference=item.key, settings=settings)

    async def _retry(
        self, ctx: TaskContext, item: _Claimed, attempt: int, failure: DeliveryFailed
    ) -> None:
        delay = min(self.retry_backoff_s * 2 ** (attempt - 1), self.max_retry_backoff_s)
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, self.max_retry_backoff_s))
        retry_at = ctx.clock.now() + timedelta(seconds=delay)
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

        async def write(session: AsyncSession) -> bool:
            result = await session.execute(
                _owned(item.id, self.owner).values(
                    attempts=attempt,
                    last_error=failure.reason[:1000],
                    due_at=retry_at,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

        await self._update(ctx, write)

    async def _record(
        self, ctx: TaskContext, item: _Claimed, attempt: int, *, failed: str | None
    ) -> None:
        now = ctx.clock.now()
        event = _event(item, attempt, now, failed)
        state = "failed" if failed else "sent"

        async def write(session: AsyncSession) -> bool:
            result = await session.execute(
                _owned(item.id, self.owner).values(
                    state=state,
                    attempts=attempt,
                    last_error=failed[:1000] if failed else None,
                    sent_at=None if failed else now,
                    due_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            await add_event(session, OutboxEvent, event, topic=NOTIFICATIONS, now=now)
            return True

        if await self._update(ctx, write):
            self.metrics.sends.labels(item.channel, item.template, state).inc()
            ctx.wake_relay()
            log.info(
                "notification sent" if failed is None else "notification failed",
                ticket_id=item.ticket_id,
                template=item.template,
                channel=item.channel,
                attempts=attempt,
                reason=failed,
            )

    async def _update(
        self, ctx: TaskContext, write: Callable[[AsyncSession], Awaitable[bool]]
    ) -> bool:
        """Run ``write`` in a transaction, retried while the database is away.

        The send is done: its record must not be lost, nor the send repeated before its
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
                    return False
                delay = min(delay * 2, 10.0)


def _owned(notification_id: int, owner: str) -> Update:
    return (
        update(Notification)
        .where(Notification.id == notification_id, Notification.lease_owner == owner)
        .execution_options(synchronize_session=False)
    )


def _copy(row: Notification) -> _Claimed:
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
    )


def _event(
    item: _Claimed, attempt: int, now: datetime, failed: str | None
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
        kind, sent = NOTIFICATION_SENT, NotificationSent(**common)
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
