"""Group commit: concurrent requests share one database transaction.

While batches commit, new requests queue; the next batch takes all of them. At low load a
request commits alone (no added wait); under load the commit cost is shared by the batch.
Up to ``max_in_flight`` batches commit at once, but never two that share a key (a ticket):
one ticket's versions are committed, and so numbered and published, in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchWork = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]
"""Processes a batch; returns one result or exception per item, in order."""


class GroupCommit(Generic[T, R]):
    """Feeds submitted items to ``work`` in batches of at most ``max_size``."""

    def __init__(
        self,
        work: BatchWork[T, R],
        *,
        key: Callable[[T], Hashable],
        max_size: int,
        max_in_flight: int = 2,
    ) -> None:
        self._work = work
        self._key = key
        self._max_size = max_size
        self._max_in_flight = max_in_flight
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[asyncio.Task[None], set[Hashable]] = {}

    def start(self) -> None:
        """Start the worker on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its own result (or its own exception)."""
        if self._task is None or self._task.done():
            raise RuntimeError("group commit worker is not running")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            keys = {self._key(item) for item, _ in batch}
            while self._in_flight and (
                len(self._in_flight) >= self._max_in_flight
                or any(keys & busy for busy in self._in_flight.values())
            ):
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self._commit(batch))
            self._in_flight[task] = keys
            task.add_done_callback(self._in_flight.pop)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results: Sequence[R | BaseException] = await self._work([i for i, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # the client went away; the work is done regardless
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Stop taking batches, let those in flight finish; queued items are cancelled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight:
            await asyncio.wait(list(self._in_flight))
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            future.cancel()
