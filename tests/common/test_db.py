"""Database helpers on PostgreSQL and SQLite: aware instants, the inbox, the engine factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.db.engine import (
    UnsupportedDatabase,
    is_postgres,
    make_engine,
    make_sessionmaker,
    transaction,
)
from vigie_common.db.inbox import remember, seen

from tests.common.tables import Seen, Stamp, common_db
from tests.support.database import DatabaseFactory

PARIS_SUMMER = timezone(timedelta(hours=2))


@pytest.fixture
async def sessions(databases: DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(common_db(databases))
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_utc_datetime_returns_aware_utc_for_an_aware_value(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    local = datetime(2025, 6, 16, 16, 10, 44, 123456, tzinfo=PARIS_SUMMER)
    async with transaction(sessions) as session:
        session.add(Stamp(id=1, at=local, maybe=None))

    async with sessions() as session:
        row = (await session.execute(select(Stamp.at, Stamp.maybe).where(Stamp.id == 1))).one()

    assert row.at == local
    assert row.at.tzinfo is UTC
    assert row.at == datetime(2025, 6, 16, 14, 10, 44, 123456, tzinfo=UTC)
    assert row.maybe is None


@pytest.mark.integration
async def test_utc_datetime_stores_the_instant_in_utc(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        session.add(Stamp(id=1, at=datetime(2025, 1, 1, 0, 30, tzinfo=PARIS_SUMMER)))

    async with sessions() as session:
        engine = session.bind
        query = (
            "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM stamp"
            if is_postgres(engine)  # type: ignore[arg-type]
            else "SELECT substr(at, 1, 16) FROM stamp"
        )
        stored = await session.scalar(text(query))

    assert stored == "2024-12-31 22:30"


@pytest.mark.integration
async def test_utc_datetime_orders_and_compares_by_instant(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    earlier_but_later_wall_clock = datetime(2025, 6, 16, 17, 0, tzinfo=PARIS_SUMMER)  # 15:00Z
    later = datetime(2025, 6, 16, 16, 0, tzinfo=UTC)
    async with transaction(sessions) as session:
        session.add_all([Stamp(id=1, at=later), Stamp(id=2, at=earlier_but_later_wall_clock)])

    async with sessions() as session:
        ordered = list(await session.scalars(select(Stamp.id).order_by(Stamp.at)))
        after = list(
            await session.scalars(
                select(Stamp.id).where(Stamp.at > datetime(2025, 6, 16, 15, 30, tzinfo=UTC))
            )
        )

    assert ordered == [2, 1]
    assert after == [1]


@pytest.mark.integration
async def test_utc_datetime_refuses_a_naive_value(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(StatementError, match="naive datetime") as caught:
        async with transaction(sessions) as session:
            session.add(Stamp(id=1, at=datetime(2025, 6, 16, 16, 10)))  # noqa: DTZ001

    assert isinstance(caught.value.orig, ValueError)
    async with sessions() as session:
        assert await session.scalar(select(Stamp.id)) is None


@pytest.mark.integration
async def test_seen_is_false_until_remembered_then_true(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
    async with transaction(sessions) as session:
        assert not await seen(session, Seen, "evt-1")
        remember(session, Seen, event_id="evt-1", topic="t.v1", event_type="x.v1", now=now)

    async with sessions() as session:
        assert await seen(session, Seen, "evt-1")
        assert not await seen(session, Seen, "evt-2")
        row = await session.get(Seen, "evt-1")
    assert row is not None
    assert (row.topic, row.event_type, row.processed_at) == ("t.v1", "x.v1", now)


@pytest.mark.integration
async def test_remember_is_undone_with_its_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
    with pytest.raises(RuntimeError, match="effect failed"):
        async with transaction(sessions) as session:
            remember(session, Seen, event_id="evt-1", topic="t.v1", event_type="x.v1", now=now)
            await session.flush()
            raise RuntimeError("effect failed")

    async with sessions() as session:
        assert not await seen(session, Seen, "evt-1")


@pytest.mark.integration
async def test_remember_twice_violates_the_event_id_key(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
    async with transaction(sessions) as session:
        remember(session, Seen, event_id="evt-1", topic="t.v1", event_type="x.v1", now=now)

    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            remember(session, Seen, event_id="evt-1", topic="t.v1", event_type="x.v1", now=now)


@pytest.mark.parametrize(
    "url",
    ["mysql://x", "postgresql://u@h/db", "sqlite:///x.db", "postgresql+psycopg://u@h/db"],
)
def test_make_engine_with_an_unsupported_driver_raises_a_readable_error(url: str) -> None:
    driver = url.split("://", 1)[0]

    with pytest.raises(UnsupportedDatabase) as caught:
        make_engine(url)

    message = str(caught.value)
    assert f"driver {driver!r} is not supported" in message
    assert "sqlite+aiosqlite" in message
    assert "postgresql+asyncpg" in message


async def test_make_engine_creates_the_folder_of_a_sqlite_file(tmp_path) -> None:
    path = tmp_path / "nested" / "dir" / "vigie.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            mode = await connection.scalar(text("PRAGMA journal_mode"))
            keys = await connection.scalar(text("PRAGMA foreign_keys"))
    finally:
        await engine.dispose()

    assert path.exists()
    assert (mode, keys) == ("wal", 1)
