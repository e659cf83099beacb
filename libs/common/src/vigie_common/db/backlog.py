"""Flow control between the writers of outbox rows and the relay that publishes them.

Writers say what they commit, the relay says what it publishes. While publishing works and
the relay is more than ``limit`` events behind, writers wait a little (at most ``max_wait``
each time) before their next transaction, so a sustained overload settles at the relay's
pace instead of growing an ever longer queue (and an ever later event). While publishing
fails, nobody waits: absorbing a broker outage is what the outbox is for.
"""

from __future__ import annotations

import asyncio
import contextlib


class BacklogGate:
    """Counts unpublished events of this process and holds writers while the relay lags."""

    def __init__(self, *, limit: int, max_wait: float) -> None:
        if limit < 1 or max_wait <= 0:
            raise ValueError("limit must be >= 1 and max_wait > 0")
        self.limit = limit
        self.max_wait = max_wait
        self.pending = 0
        self.publishing = True
        self._room = asyncio.Event()
        self._room.set()

    def committed(self, events: int) -> None:
        """A writer committed ``events`` new outbox rows."""
        self.pending += events
        self._update()

    def published(self, events: int, *, failed: bool) -> None:
        """The relay had ``events`` acknowledged; ``failed`` when its batch hit an error."""
        self.pending = max(self.pending - events, 0)
        self.publishing = not failed
        self._update()

    def reset(self, pending: int) -> None:
        """The database's own count of pending rows (it also knows about restarts)."""
        self.pending = pending
        self._update()

    async def room(self) -> None:
        """Return when the relay is close enough behind, or after ``max_wait`` at most."""
        if self._room.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), timeout=self.max_wait)

    def _update(self) -> None:
        if self.publishing and self.pending > self.limit:
            self._room.clear()
        else:
            self._room.set()
