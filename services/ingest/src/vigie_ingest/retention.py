"""The retention policy: old refusals and superseded versions are deleted, hourly."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.clock import Clock
from vigie_common.logs import get_logger

from vigie_ingest import records
from vigie_ingest.runtime import IngestMetrics

log = get_logger(__name__)

PRUNE_EVERY_S: Final = 3600.0


async def prune_once(
    sessions: async_sessionmaker[AsyncSession], *, clock: Clock, keep: timedelta
) -> dict[str, int]:
    """Delete what is older than ``keep``; return the rows deleted per table."""
    async with sessions() as session, session.begin():
        return await records.prune(session, before=clock.now() - keep)


async def keep_pruning(
    sessions: async_sessionmaker[AsyncSession],
    *,
    clock: Clock,
    keep: timedelta,
    metrics: IngestMetrics,
    every_s: float = PRUNE_EVERY_S,
) -> None:
    """Prune at start, then every ``every_s``; a failure is logged and tried next time."""
    while True:
        try:
            deleted = await prune_once(sessions, clock=clock, keep=keep)
        except Exception:  # the database may be away: the next round tries again
            log.exception("retention pruning failed")
        else:
            for table, count in deleted.items():
                metrics.pruned.labels(table).inc(count)
            if any(deleted.values()):
                log.info("retention pruned rows", **deleted)
        await asyncio.sleep(every_s)
