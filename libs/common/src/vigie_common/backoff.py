"""Bounded, growing delays between retries: a blip is retried soon, an outage gently."""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from ``initial`` up to ``ceiling``; :meth:`reset` after a success.

    No jitter: the callers (the consume loop of one member, a task supervisor) do not retry in
    lock-step with their peers, and tests can then predict every delay.
    """

    def __init__(self, initial: float, ceiling: float, *, factor: float = 2.0) -> None:
        if initial <= 0 or ceiling < initial or factor < 1:
            raise ValueError("need 0 < initial <= ceiling and factor >= 1")
        self.initial = initial
        self.ceiling = ceiling
        self.factor = factor
        self._next = initial
        self.failures = 0

    def next(self) -> float:
        """The delay before the next try; each call grows the one after (up to the ceiling)."""
        delay = self._next
        self._next = min(self._next * self.factor, self.ceiling)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """The work succeeded: the next failure waits ``initial`` again."""
        self._next = self.initial
        self.failures = 0
