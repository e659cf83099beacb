"""The flow control between outbox writers and the relay."""

from __future__ import annotations

import asyncio
import time

import pytest
from vigie_common.db.backlog import BacklogGate


async def elapsed(gate: BacklogGate) -> float:
    started = time.monotonic()
    await gate.room()
    return time.monotonic() - started


async def test_room_is_immediate_while_the_relay_keeps_up() -> None:
    gate = BacklogGate(limit=10, max_wait=5)
    gate.committed(10)
    assert await elapsed(gate) < 0.05


async def test_room_waits_for_the_relay_to_catch_up() -> None:
    gate = BacklogGate(limit=10, max_wait=5)
    gate.committed(25)

    async def relay() -> None:
        await asyncio.sleep(0.2)
        gate.published(20, failed=False)

    waited, _ = await asyncio.gather(elapsed(gate), relay())
    assert 0.15 < waited < 1.0
    assert gate.pending == 5


async def test_room_waits_no_longer_than_max_wait() -> None:
    gate = BacklogGate(limit=10, max_wait=0.2)
    gate.committed(100)
    waited = await elapsed(gate)
    assert 0.15 < waited < 1.0


async def test_nobody_waits_while_publishing_fails() -> None:
    gate = BacklogGate(limit=10, max_wait=5)
    gate.committed(100)
    gate.published(0, failed=True)  # the broker is away: the outbox absorbs it
    assert await elapsed(gate) < 0.05
    gate.committed(50)
    assert await elapsed(gate) < 0.05


async def test_reset_takes_the_database_count() -> None:
    gate = BacklogGate(limit=10, max_wait=5)
    gate.committed(100)
    gate.reset(3)
    assert gate.pending == 3
    assert await elapsed(gate) < 0.05


def test_published_never_goes_below_zero() -> None:
    gate = BacklogGate(limit=10, max_wait=5)
    gate.published(7, failed=False)
    assert gate.pending == 0


@pytest.mark.parametrize(("limit", "max_wait"), [(0, 1.0), (10, 0.0)])
def test_bad_parameters_are_refused(limit: int, max_wait: float) -> None:
    with pytest.raises(ValueError, match="limit must be"):
        BacklogGate(limit=limit, max_wait=max_wait)
