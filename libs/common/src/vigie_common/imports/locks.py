"""The lock that makes concurrent imports of one kind take turns, so each report is true.

Two imports computing their diffs at once would both report the same additions. On
PostgreSQL each import holds a transaction advisory lock (released at commit or rollback);
on SQLite the database's single writer already serialises them.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["hold_import_lock", "import_lock_key"]


def import_lock_key(name: str) -> int:
    """The advisory-lock key of the import ``name`` (``vigie-prober:inventory-import``).

    A signed 64-bit integer from a hash (not Python's ``hash``, which changes per process),
    so every process computes the same key.
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def hold_import_lock(session: AsyncSession, key: int) -> None:
    """Wait for, then hold until the transaction ends, the import lock ``key`` (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(key)))
