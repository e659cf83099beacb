"""The deadline watcher: a background task that fires GTR warnings and chases on time.

Warnings (50, 75, 100 % of a ticket's budget) and chases (an intervention still open past its
delay) are due at an instant, not when an event arrives: the watcher claims the due rows
with a lease (replicas share them), handles each in one short transaction — the warning
event, the decisions, the rendered sends — and refreshes the gauges the dashboards show
(pending sends, clocks running and at risk, outcomes).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from vigie_common.db.engine import transaction
from vigie_common.db.leases import claim_due
from vigie_common.kafka.failures import describe
from vigie_common.logs import Throttle, get_logger
from vigie_common.tasks import BackgroundTask, TaskContext

from vigie_notifier import records, service
from vigie_notifier.metrics import NotifierMetrics
from vigie_notifier.models import GtrClock, Intervention
from vigie_notifier.service import Notify

__all__ = ["Watcher"]

log = get_logger(__name__)


class Watcher:
    """Fires due warnings and chases; keeps the gauges fresh."""

    def __init__(
        self,
        deps: Notify,
        *,
        metrics: NotifierMetrics,
        owner: str,
        poll_interval_s: float = 5.0,
        batch: int = 100,
    ) -> None:
        self.deps = deps
        self.metrics = metrics
        self.owner = owner
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self._throttle = Throttle(60.0)

    def task(self) -> BackgroundTask:
        """The background task the worker runs."""
        return BackgroundTask(name="watcher", run=self.run)

    async def run(self, ctx: TaskContext) -> None:
        """Until the worker stops: warnings, chases, gauges, then a nap."""
        while not ctx.stop.is_set():
            try:
                fired = await self.tick(ctx)
                await self.refresh(ctx)
            except (SQLAlchemyError, OSError) as exc:
                fired = 0
                if self._throttle.allow("tick") is not None:
                    log.warning("watcher cannot reach the database; retrying", error=describe(exc))
            if fired:
                ctx.wake_relay()
                continue
            if not await ctx.sleep(self.poll_interval_s):
                return

    async def tick(self, ctx: TaskContext) -> int:
        """Handle what is due now; how many warnings and chases fired."""
        now = ctx.clock.now()
        lease = timedelta(seconds=60)
        fired = 0
        async with transaction(ctx.sessions) as session:
            clocks = await claim_due(
                session, GtrClock, owner=self.owner, now=now, lease=lease, limit=self.batch
            )
            for clock in clocks:
                warned = await service.handle_gtr_warning(session, clock, deps=self.deps, now=now)
                clock.lease_owner = clock.lease_expires_at = None
                if warned:
                    fired += 1
                    self.metrics.gtr_warnings.labels(str(clock.warned_percent)).inc()
                    log.info(
                        "gtr warning",
                        ticket_id=clock.ticket_id,
                        threshold=clock.warned_percent,
                        deadline=clock.deadline.isoformat() if clock.deadline else None,
                    )
            chases = await claim_due(
                session, Intervention, owner=self.owner, now=now, lease=lease, limit=self.batch
            )
            for intervention in chases:
                await service.handle_chase(session, intervention, deps=self.deps, now=now)
                intervention.lease_owner = intervention.lease_expires_at = None
                fired += 1
                log.info(
                    "intervention chased",
                    ticket_id=intervention.ticket_id,
                    template=intervention.template,
                )
        return fired

    async def refresh(self, ctx: TaskContext) -> None:
        """The gauges, from the tables."""
        async with ctx.sessions() as session:
            found = await records.counts(session, now=ctx.clock.now())
        m = self.metrics
        for channel in ("mail", "sms"):
            m.pending.labels(channel).set(found["pending"].get(channel, 0))
        m.oldest_pending.set(found["oldest_pending_s"])
        m.failed.set(found["failed"])
        m.gtr_running.set(found["running"])
        for threshold in ("50", "75", "100"):
            m.gtr_at_risk.labels(threshold).set(found["at_risk"].get(threshold, 0))
        for result, count in found["outcomes"].items():
            m.gtr_outcomes.labels(result).set(count)
