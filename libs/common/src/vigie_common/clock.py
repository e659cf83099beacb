"""Clocks: the one place that reads the time and waits, so pure code and tests can inject it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the relay, the GTR clock, the scheduler and the background tasks read and wait on."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin, for measuring durations."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock (at once when not positive).

        Cancellable like :func:`asyncio.sleep`; a task that must also stop early waits on
        its stop event beside it.
        """
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return the process's monotonic clock."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(seconds, 0.0))


class FrozenClock:
    """A clock that moves only when told to, for tests.

    :meth:`sleep` returns when :meth:`advance` moves the clock to or past the wake-up instant,
    so a test drives a scheduled task step by step instead of waiting in real time.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._slept = asyncio.Event()

    def now(self) -> datetime:
        """Return the frozen instant."""
        return self._now

    def monotonic(self) -> float:
        """Return the seconds advanced so far."""
        return self._mono

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock is advanced by ``seconds`` (only yield when not positive)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        entry = (self._mono + seconds, wake)
        self._sleepers.append(entry)
        self._slept.set()
        try:
            await wake
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    @property
    def sleepers(self) -> int:
        """How many tasks sleep on this clock now."""
        return len(self._sleepers)

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta`` and wake the sleepers that are due."""
        if delta < timedelta(0):
            raise ValueError("a clock does not go back")
        self._now += delta
        self._mono += delta.total_seconds()
        due = [entry for entry in self._sleepers if entry[0] <= self._mono]
        for entry in due:
            self._sleepers.remove(entry)
            if not entry[1].done():
                entry[1].set_result(None)

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Wait until ``count`` tasks sleep on this clock; bound it with ``asyncio.timeout``."""
        while len(self._sleepers) < count:
            self._slept.clear()
            await self._slept.wait()
