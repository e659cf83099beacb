"""The scheduler: a background task beside the consume loop that runs the due probe rounds.

Each pass claims due rounds with a lease (committed at once), probes each ticket's ends
concurrently outside any transaction, renewing the lease while the routers answer, then
saves the round — plan moved on, observations, verdict and their outbox rows — in one
transaction, and wakes the relay. Replicas share one schedule through the leases; a replica
that dies mid-probe lets its lease expire and another runs that round again, under the same
event ids (nothing is published twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from vigie_common.db.engine import transaction
from vigie_common.db.leases import lease_owner_name
from vigie_common.kafka.failures import describe
from vigie_common.logs import Throttle, get_logger
from vigie_common.tasks import BackgroundTask, TaskContext

from vigie_prober import service
from vigie_prober.credentials import CredentialStore
from vigie_prober.metrics import ProberMetrics
from vigie_prober.plans import next_probe
from vigie_prober.results import EndResult, PlannedProbe, as_end, judge_round, round_events
from vigie_prober.runbook import probe_device
from vigie_prober.settings import ProberSettings
from vigie_prober.ssh import Access
from vigie_prober.verdicts import DeviceVerdict, Verdict

__all__ = ["Scheduler"]

log = get_logger(__name__)


class Scheduler:
    """Claims due rounds, probes them, saves their results; one per prober process."""

    def __init__(
        self,
        settings: ProberSettings,
        *,
        metrics: ProberMetrics,
        credentials: CredentialStore | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.credentials = credentials or CredentialStore()
        self.owner = owner or lease_owner_name()
        self.lease = timedelta(seconds=settings.lease_s)
        self._throttle = Throttle(60.0)

    def task(self) -> BackgroundTask:
        """The background task the worker runs."""
        return BackgroundTask(name="scheduler", run=self.run)

    async def run(self, ctx: TaskContext) -> None:
        """Until the worker stops: claim what is due, probe it, save it."""
        options = self.settings.ssh.options()
        async with Access(credentials=self.credentials, options=options) as access:
            running: set[asyncio.Task[None]] = set()
            try:
                while not ctx.stop.is_set():
                    free = self.settings.max_concurrent_tickets - len(running)
                    claimed: list[PlannedProbe] = []
                    if free > 0:
                        claimed = await self._claim(ctx, free)
                        for planned in claimed:
                            task = asyncio.create_task(self._round(ctx, access, planned))
                            running.add(task)
                            task.add_done_callback(running.discard)
                    await self._refresh_backlog(ctx)
                    if claimed and len(claimed) == free:
                        await asyncio.sleep(0)  # more may be due: claim again at once
                        continue
                    if not await ctx.sleep(self.settings.poll_interval_s):
                        break
            finally:
                if running:  # finish the rounds in hand; the supervisor's grace bounds this
                    await asyncio.gather(*running, return_exceptions=True)

    async def _claim(self, ctx: TaskContext, limit: int) -> list[PlannedProbe]:
        now = ctx.clock.now()
        try:
            async with transaction(ctx.sessions) as session:
                claimed = await service.claim_rounds(
                    session, owner=self.owner, now=now, lease=self.lease, limit=limit
                )
        except (SQLAlchemyError, OSError) as exc:
            if self._throttle.allow("claim") is not None:
                log.warning("cannot claim due probes; retrying", error=describe(exc))
            return []
        for planned in claimed:
            self.metrics.lateness.observe(max((now - planned.due_at).total_seconds(), 0.0))
        return claimed

    async def _refresh_backlog(self, ctx: TaskContext) -> None:
        with suppress(SQLAlchemyError, OSError):
            async with ctx.sessions() as session:
                count, late = await service.schedule_backlog(session, now=ctx.clock.now())
            self.metrics.backlog.set(count)
            self.metrics.oldest_late.set(late)

    async def _round(self, ctx: TaskContext, access: Access, planned: PlannedProbe) -> None:
        """One ticket's round: resolve, probe the ends, judge, save; never raises."""
        self.metrics.in_flight.inc()
        keeper = asyncio.create_task(self._keep_lease(ctx, planned))
        try:
            started = ctx.clock.now()
            async with ctx.sessions() as session:
                targets = await service.resolve_targets(session, planned)
            ends = await self._probe(access, planned, targets, started)
            until = ctx.clock.now()
            verdict = judge_round(ends)
            following = next_probe(
                purpose=planned.purpose,
                verdict=verdict.verdict,
                started=started,
                window_end=planned.window_end,
                interval=planned.interval,
            )
            events = round_events(
                planned, ends, verdict, started=started, until=until, next_probe=following
            )
            keeper.cancel()
            async with transaction(ctx.sessions) as session:
                saved = await service.save_round(
                    session,
                    planned,
                    owner=self.owner,
                    ends=ends,
                    events=events,
                    next_probe=following,
                    now=until,
                )
            if not saved:
                self.metrics.dropped.inc()
                log.info(
                    "round result dropped: the plan changed or another replica took it over",
                    ticket_id=planned.ticket_id,
                    round=planned.round,
                )
                return
            ctx.wake_relay()
            self.metrics.verdicts.labels(planned.purpose.value, verdict.verdict.value).inc()
            log.info(
                "verdict reached",
                ticket_id=planned.ticket_id,
                purpose=planned.purpose.value,
                round=planned.round,
                verdict=verdict.verdict.value,
                reason=verdict.reason,
                final=following.final,
                next_probe_at=following.due_at.isoformat() if following.due_at else None,
            )
        except Exception as exc:  # noqa: BLE001 - one ticket's failure must not stop the others
            log.warning(
                "probe round failed; it will be retried",
                ticket_id=planned.ticket_id,
                error=describe(exc),
            )
            await self._give_back(ctx, planned)
        finally:
            keeper.cancel()
            self.metrics.in_flight.dec()

    async def _probe(
        self,
        access: Access,
        planned: PlannedProbe,
        targets: Sequence[service.Target],
        started: datetime,
    ) -> list[EndResult]:
        """Every device of every end, concurrently (both ends of a P2P link at once)."""
        settings = self.settings
        policy = settings.dampening.policy()
        jobs = [(target, device) for target in targets for device in target.devices]
        probes = await asyncio.gather(
            *(
                probe_device(
                    device,
                    access=access,
                    now=started,
                    since=planned.since,
                    ping=settings.ping_from,
                    ping_count=settings.ping_count,
                    policy=policy,
                )
                for _, device in jobs
            )
        )
        results: list[EndResult] = []
        by_target = iter(zip(jobs, probes, strict=True))
        for target in targets:
            end = as_end(target.end)
            if not target.devices:
                reason = target.reason or f"site {target.site_code} has no device"
                verdict = DeviceVerdict(
                    verdict=Verdict.INCONCLUSIVE, reason=reason, device=target.site_code
                )
                results.append(EndResult(end=end, site_code=target.site_code, verdict=verdict))
                continue
            for _ in target.devices:
                (_, _), probe = next(by_target)
                self.metrics.observe(probe)
                results.append(
                    EndResult(
                        end=end, site_code=target.site_code, verdict=probe.verdict, probe=probe
                    )
                )
        return results

    async def _keep_lease(self, ctx: TaskContext, planned: PlannedProbe) -> None:
        """Renew the round's lease every third of it while the probe runs."""
        while await ctx.sleep(self.lease.total_seconds() / 3):
            try:
                async with transaction(ctx.sessions) as session:
                    kept = await service.extend_round(
                        session, planned, owner=self.owner, until=ctx.clock.now() + self.lease
                    )
            except (SQLAlchemyError, OSError):
                continue
            if not kept:
                return

    async def _give_back(self, ctx: TaskContext, planned: PlannedProbe) -> None:
        retry_at = ctx.clock.now() + timedelta(seconds=self.settings.retry_delay_s)
        with suppress(SQLAlchemyError, OSError):  # else the lease expires: the same effect
            async with transaction(ctx.sessions) as session:
                await service.release_round(session, planned, owner=self.owner, retry_at=retry_at)
