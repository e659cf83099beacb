"""Accepting tickets under load: group commit around :func:`service.accept_batch`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.clock import Clock
from vigie_common.logs import get_logger

from vigie_ingest import service
from vigie_ingest.group_commit import GroupCommit
from vigie_ingest.service import Acceptance
from vigie_ingest.sources.base import MappedTicket

log = get_logger(__name__)


class TicketIntake:
    """Commits concurrent webhooks together; wakes the outbox relay after each commit."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        on_commit: Callable[[int], None],
        room: Callable[[], Awaitable[None]] | None = None,
        max_batch: int,
        max_in_flight: int = 2,
        max_event_bytes: int = service.DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._on_commit = on_commit
        self._room = room
        self._max_event_bytes = max_event_bytes
        self._batches: GroupCommit[MappedTicket, Acceptance] = GroupCommit(
            self._commit,
            key=lambda m: (m.source, m.upstream_id),
            max_size=max_batch,
            max_in_flight=max_in_flight,
        )

    def start(self) -> None:
        """Start accepting (needs a running loop)."""
        self._batches.start()

    async def close(self) -> None:
        """Stop the batch worker."""
        await self._batches.close()

    async def accept(self, mapped: MappedTicket) -> Acceptance:
        """Store one mapped ticket durably; returns once its transaction has committed."""
        return await self._batches.submit(mapped)

    async def _commit(self, items: Sequence[MappedTicket]) -> Sequence[Acceptance | BaseException]:
        if self._room is not None:
            await self._room()  # the relay is far behind: let it catch up a little first
        try:
            async with self._sessions() as session, session.begin():
                results = await service.accept_batch(
                    session,
                    items=items,
                    now=self._clock.now(),
                    max_event_bytes=self._max_event_bytes,
                )
        except Exception as exc:  # noqa: BLE001 - isolate the culprit, never fail the neighbours
            # A conflict (another replica stored one of these versions meanwhile) or one bad
            # item: redo one by one, so only the culprit fails and the rest commit.
            level = log.info if isinstance(exc, IntegrityError) else log.warning
            level("batch failed; retrying items one by one", size=len(items), error=repr(exc))
            if len(items) == 1:
                return [exc]
            return [await self._commit_one(item) for item in items]
        self._on_commit(_new_events(results))
        return results

    async def _commit_one(self, item: MappedTicket) -> Acceptance | BaseException:
        try:
            async with self._sessions() as session, session.begin():
                [result] = await service.accept_batch(
                    session,
                    items=[item],
                    now=self._clock.now(),
                    max_event_bytes=self._max_event_bytes,
                )
        except Exception as exc:  # noqa: BLE001 - reported to this item's request only
            return exc
        self._on_commit(_new_events([result]))
        return result


def _new_events(results: Sequence[Acceptance]) -> int:
    """How many outbox rows a commit added (duplicates and stale versions add none)."""
    return sum(1 for r in results if r.event_id is not None and not r.duplicate and not r.stale)
