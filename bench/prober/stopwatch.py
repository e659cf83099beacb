"""The timed window of one contender: wall seconds and this process's CPU seconds.

It stops once: a contender that has work after its last router (vigie closing the
connections it keeps for reuse) stops it itself when the last result is in, and the child's
later ``stop`` changes nothing.
"""

from __future__ import annotations

import os
import time


class Stopwatch:
    """Started at construction; ``stop`` keeps the first reading."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        times = os.times()
        self._cpu = times.user + times.system
        self.wall_s: float | None = None
        self.cpu_s: float | None = None

    def stop(self) -> None:
        """Read the clocks, the first time only."""
        if self.wall_s is not None:
            return
        self.wall_s = time.perf_counter() - self._wall
        times = os.times()
        self.cpu_s = times.user + times.system - self._cpu
