"""Tickets' GTR clocks kept in step with their versions: holds pause them, restoration and
closure stop them, warnings come in order, an unreadable commitment gets no deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.cli import migrate
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.events.tickets import CanonicalTicket, TicketState
from vigie_notifier import clocks
from vigie_notifier.models import VERSION_TABLE, GtrClock
from vigie_notifier.settings import NotifierSettings

from tests.notifier.test_rendering import real_ticket

PARIS = ZoneInfo("Europe/Paris")
OPENED = datetime(2025, 5, 30, 9, 52, tzinfo=PARIS)  # Friday; 240 min, Mon-Sat 8h-18h
PLACE = clocks.ClockPlace()


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'clocks.db'}"
    migrate(
        NotifierSettings(database_url=url), package="vigie_notifier", version_table=VERSION_TABLE
    )
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as db:
        yield db
    await engine.dispose()


def version(n: int, **changes: Any) -> CanonicalTicket:
    return real_ticket(version=n, **changes)


def pauses(clock: GtrClock) -> list[tuple[datetime, datetime | None]]:
    return [
        (datetime.fromisoformat(str(a)), datetime.fromisoformat(b) if b else None)
        for a, b in clock.pauses
    ]


async def track(session: AsyncSession, ticket: CanonicalTicket, at: datetime) -> list[Any]:
    events = await clocks.track_ticket(
        session, ticket, cause_event_id=f"evt-{ticket.version}", heard_at=at, now=at, place=PLACE
    )
    await session.flush()
    return events


async def test_the_real_ticket_is_due_at_13_52_and_restored_in_time(session: AsyncSession) -> None:
    assert await track(session, version(1), OPENED) == []
    clock = await session.get(GtrClock, "tkt-oceane-2505057242")
    assert clock is not None and clock.state == "running"
    assert clock.deadline == datetime(2025, 5, 30, 13, 52, tzinfo=PARIS)
    assert clock.due_at == datetime(2025, 5, 30, 11, 52, tzinfo=PARIS)  # 50 %

    restored = version(2, state=TicketState.RESTORED, restored_at=OPENED + timedelta(hours=3))
    [outcome] = await track(session, restored, OPENED + timedelta(hours=3, minutes=5))

    assert outcome.type == "vigie.gtr.outcome.v1"
    assert (outcome.data.met, outcome.data.margin_minutes) == (True, 60)
    assert clock.state == "restored" and clock.due_at is None
    assert (
        await track(session, version(3, state=TicketState.CLOSED), OPENED + timedelta(days=1)) == []
    )


async def test_a_hold_pauses_the_clock_and_shifts_the_deadline(session: AsyncSession) -> None:
    await track(session, version(1), OPENED)
    hold = OPENED + timedelta(hours=1)
    await track(session, version(2, on_hold=True, updated_at=hold), hold)
    clock = await session.get(GtrClock, "tkt-oceane-2505057242")
    assert clock is not None and clock.due_at is None  # no warning while frozen
    assert pauses(clock) == [(hold, None)]

    release = hold + timedelta(minutes=45)
    await track(session, version(3, on_hold=False, updated_at=release), release)

    assert pauses(clock) == [(hold, release)]
    assert clock.deadline == datetime(2025, 5, 30, 14, 37, tzinfo=PARIS)
    assert clock.due_at is not None


async def test_a_hold_outside_the_schedule_shifts_nothing(session: AsyncSession) -> None:
    late = datetime(2025, 5, 30, 17, 0, tzinfo=PARIS)
    await track(session, version(1, opened_at=late), late)
    evening = datetime(2025, 5, 30, 19, 0, tzinfo=PARIS)
    await track(session, version(2, opened_at=late, on_hold=True, updated_at=evening), evening)
    morning = datetime(2025, 5, 31, 7, 0, tzinfo=PARIS)
    await track(session, version(3, opened_at=late, updated_at=morning), morning)
    clock = await session.get(GtrClock, "tkt-oceane-2505057242")

    assert clock is not None
    assert clock.deadline == datetime(2025, 5, 31, 11, 0, tzinfo=PARIS)  # Saturday counts


async def test_closing_without_restoration_cancels_the_clock(session: AsyncSession) -> None:
    await track(session, version(1), OPENED)
    [outcome] = await track(
        session, version(2, state=TicketState.CLOSED), OPENED + timedelta(hours=1)
    )

    assert outcome.data.state == "cancelled" and outcome.data.met is None


async def test_an_unreadable_commitment_is_recorded_never_guessed(session: AsyncSession) -> None:
    await track(session, version(1, commitment="GTR au plus vite"), OPENED)
    clock = await session.get(GtrClock, "tkt-oceane-2505057242")

    assert clock is not None and clock.state == "unreadable"
    assert clock.deadline is None and clock.due_at is None
    assert "au plus vite" in (clock.error or "")


async def test_warnings_fire_once_each_and_the_highest_reached_first(session: AsyncSession) -> None:
    await track(session, version(1), OPENED)
    clock = await session.get(GtrClock, "tkt-oceane-2505057242")
    assert clock is not None

    at_60 = datetime(2025, 5, 30, 12, 16, tzinfo=PARIS)  # 144 of 240 minutes
    assert clocks.due_warning(clock, at_60) == 50
    warning = clocks.warning_event(clock, 50, at_60)
    assert warning.data.threshold_percent == 50 and warning.data.business_minutes_used == 144
    assert clock.due_at == datetime(2025, 5, 30, 12, 52, tzinfo=PARIS)  # 75 %
    assert clocks.due_warning(clock, at_60) is None

    late = datetime(2025, 5, 30, 15, 0, tzinfo=PARIS)
    assert clocks.due_warning(clock, late) == 100  # 75 was skipped: the worst news first
    again = clocks.warning_event(clock, 100, late)
    assert clock.due_at is None and clock.warned_percent == 100
    assert again.id != warning.id
    assert again.id == clocks.warning_event(clock, 100, late + timedelta(hours=1)).id
