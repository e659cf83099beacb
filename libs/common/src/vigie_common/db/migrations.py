"""Alembic, the same way in every service: async env, own version table, SQLite batch mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from vigie_common.db.engine import ensure_sqlite_folder


def alembic_config(*, package: str, url: str, version_table: str) -> Config:
    """Config for ``<package>:migrations`` against ``url`` (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["url"] = url
    config.attributes["version_table"] = version_table
    return config


def upgrade(config: Config, revision: str = "head") -> None:
    """Apply migrations; blocking, so call it before the event loop or in a thread."""
    command.upgrade(config, revision)


def run_env(metadata: MetaData, *, version_table: str, default_url: Callable[[], str]) -> None:
    """Body of every ``migrations/env.py``: online with the async driver, or offline SQL."""
    config = context.config
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or default_url()
    table = config.attributes.get("version_table", version_table)
    options = {
        "target_metadata": metadata,
        "version_table": table,
        "render_as_batch": True,  # SQLite cannot ALTER most things; batch mode copies tables
        "compare_type": True,
    }
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_online(url, options))
        return
    # Called from async code (a test, a launcher): migrate on a thread with its own loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _online(url, options)).result()


async def _online(url: str, options: dict[str, object]) -> None:
    ensure_sqlite_folder(url)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate, options)
    finally:
        await engine.dispose()


def _migrate(connection: Connection, options: dict[str, object]) -> None:
    context.configure(connection=connection, **options)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()
