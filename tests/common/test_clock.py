"""Clock.sleep: real on SystemClock, driven by advance() on FrozenClock."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from vigie_common.clock import Clock, FrozenClock, SystemClock

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)


def test_both_clocks_are_clocks() -> None:
    clocks: list[Clock] = [SystemClock(), FrozenClock(START)]
    assert len(clocks) == 2


async def test_system_clock_sleeps_for_real() -> None:
    started = time.monotonic()
    await SystemClock().sleep(0.05)
    assert time.monotonic() - started >= 0.045


async def test_frozen_sleep_returns_only_once_advanced_past_the_wake_up() -> None:
    clock = FrozenClock(START)
    sleeper = asyncio.create_task(clock.sleep(30))
    await asyncio.wait_for(clock.wait_for_sleepers(1), timeout=1)

    clock.advance(timedelta(seconds=29))
    await asyncio.sleep(0.01)
    early = sleeper.done()
    clock.advance(timedelta(seconds=1))
    await asyncio.wait_for(sleeper, timeout=1)

    assert not early
    assert clock.now() == START + timedelta(seconds=30)
    assert clock.sleepers == 0


async def test_frozen_sleepers_wake_in_the_order_of_their_deadlines() -> None:
    clock = FrozenClock(START)
    woke: list[str] = []

    async def sleep(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleep(n, s)) for n, s in (("late", 20), ("soon", 5))]
    await asyncio.wait_for(clock.wait_for_sleepers(2), timeout=1)

    clock.advance(timedelta(seconds=10))
    await asyncio.sleep(0.01)
    after_ten = list(woke)
    clock.advance(timedelta(seconds=10))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=1)

    assert after_ten == ["soon"]
    assert woke == ["soon", "late"]


async def test_frozen_sleep_of_zero_only_yields() -> None:
    clock = FrozenClock(START)
    await asyncio.wait_for(clock.sleep(0), timeout=1)
    await asyncio.wait_for(clock.sleep(-1), timeout=1)
    assert clock.sleepers == 0


async def test_a_cancelled_frozen_sleep_leaves_no_sleeper_behind() -> None:
    clock = FrozenClock(START)
    sleeper = asyncio.create_task(clock.sleep(10))
    await asyncio.wait_for(clock.wait_for_sleepers(1), timeout=1)

    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper

    assert clock.sleepers == 0
    clock.advance(timedelta(seconds=10))  # nothing left to wake: no error


def test_a_frozen_clock_does_not_go_back() -> None:
    with pytest.raises(ValueError, match="does not go back"):
        FrozenClock(START).advance(timedelta(seconds=-1))
