"""The PostgreSQL advisory lock that lets one relay per service and database publish.

Two relays publishing the same outbox would reorder a ticket's events, so each relay takes a
session-level advisory lock on a connection of its own and keeps it while it leads. The key
is derived from the service's name: the ingest, prober and notifier relays sharing one
database never exclude each other, while two replicas of one service do.

A session-level lock belongs to the server session, not to the relay: a pooled connection
given back while holding it keeps the lock for whoever borrows it next, and every relay
waits forever. So the lock is given back explicitly (``pg_advisory_unlock``), and when that
cannot be confirmed the connection is invalidated (closed, never pooled again), which ends
the server session and its locks with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vigie_common.db.outbox_rows import error_text
from vigie_common.logs import get_logger

log = get_logger(__name__)

RELEASE_TIMEOUT_S = 5.0
"""How long giving the lock back may take before the connection is dropped instead."""


def relay_lock_key(service: str) -> int:
    """The advisory-lock key of ``service``'s relay: a signed 64-bit integer, stable forever.

    Derived from a hash (not Python's ``hash``, which changes per process) so every replica
    of a service computes the same key, and different services different keys.
    """
    if not service:
        raise ValueError("the relay needs the service's name for its lock key")
    digest = hashlib.sha256(f"vigie-outbox:{service}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class RelayLock:
    """Leadership of one service's relay on one PostgreSQL database."""

    def __init__(self, engine: AsyncEngine, *, service: str) -> None:
        self.key = relay_lock_key(service)
        self._engine = engine
        self._connection: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        """True while this relay leads (as far as it knows: a dead connection shows on use)."""
        return self._connection is not None

    async def acquire(self) -> AsyncConnection | None:
        """The leader's connection (autocommit), or None while another relay holds the lock."""
        if self._connection is not None:
            return self._connection
        connection = await self._engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            locked = await connection.scalar(select(func.pg_try_advisory_lock(self.key)))
        except BaseException:
            await _drop(connection)  # whether the lock was taken is unknown: end the session
            raise
        if not locked:
            await _give_back(connection)
            return None
        self._connection = connection
        log.info("outbox relay holds the lock", lock_key=self.key)
        return connection

    async def release(self) -> None:
        """Give the lock back for sure: unlock, or else drop the connection that holds it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        unlocked = False
        try:
            unlocked = bool(
                await asyncio.wait_for(
                    connection.scalar(select(func.pg_advisory_unlock(self.key))),
                    timeout=RELEASE_TIMEOUT_S,
                )
            )
        except Exception as exc:  # noqa: BLE001 - broken, stuck or cut: the fallback covers all
            log.warning(
                "outbox relay lock not released: dropping its connection", error=error_text(exc)
            )
        finally:  # on cancellation too: a connection still holding the lock never goes back
            if unlocked:
                await _give_back(connection)
            else:
                await _drop(connection)


async def _give_back(connection: AsyncConnection) -> None:
    """Return a connection that holds no relay lock to the pool (or drop it if that fails)."""
    try:
        await asyncio.wait_for(connection.close(), timeout=RELEASE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - a connection that cannot even close is dropped
        await _drop(connection)


async def _drop(connection: AsyncConnection) -> None:
    """Close the connection's server session and keep it out of the pool."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()
