"""A fresh PostgreSQL database per run, so every figure starts from empty tables.

The local server (127.0.0.1:5432, trust auth for ``postgres``) is used as-is; the database is
dropped first if a previous run left it, and kept afterwards for inspection.
"""

from __future__ import annotations

import asyncio

import psycopg
from psycopg import sql

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=10"


def async_url(name: str) -> str:
    """The SQLAlchemy URL ingest connects with (``VIGIE_DATABASE_URL``)."""
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def _recreate(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


async def recreate_database(name: str) -> None:
    """Drop ``name`` if it exists and create it empty."""
    await asyncio.to_thread(_recreate, name)
