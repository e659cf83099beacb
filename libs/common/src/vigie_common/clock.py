"""Clocks: the one place that reads the time, so pure code and tests can inject it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the relay, the GTR clock and the scheduler read the time from."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin, for measuring durations."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return the process's monotonic clock."""
        return time.monotonic()


class FrozenClock:
    """A clock that moves only when told to, for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        """Return the frozen instant."""
        return self._now

    def monotonic(self) -> float:
        """Return the seconds advanced so far."""
        return self._mono

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self._now += delta
        self._mono += delta.total_seconds()
