"""Pacing new logins: a token bucket per jump host, so the AAA server behind it is not flooded.

A login takes a token; tokens come back at ``rate`` per second up to ``burst``. A login with
no token waits its turn: the bucket hands out reservations in call order (tokens may go into
debt), so waiters are served first come, first served and none waits longer than its place in
the queue. The clock is injected; the bucket itself never sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["LoginPacer"]


class LoginPacer:
    """At most ``burst`` logins at once, then ``rate`` a second (``rate`` 0: no pacing)."""

    def __init__(
        self, rate: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """A bucket that starts full.

        Args:
            rate: Logins a second, sustained; 0 or less turns pacing off.
            burst: Logins allowed back to back before the rate applies (at least 1).
            clock: Seconds, monotonic.
        """
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()

    def reserve(self) -> float:
        """Take a token now: the seconds to wait before logging in (0 when one was there)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def wait(self) -> float:
        """Wait for this login's turn; returns the seconds waited."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        return delay
