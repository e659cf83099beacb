"""Background tasks beside the consume loop: driven by a FrozenClock, restarted after a crash,
stopped with the worker (stop event, grace, cancel)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.clock import FrozenClock
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.tasks import (
    BackgroundTask,
    TaskContext,
    TaskMetrics,
    TaskSupervisor,
)

from tests.common.consumer_rig import RecordingPublisher

START = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)


@pytest.fixture
async def sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def supervisor_of(
    tasks: Sequence[BackgroundTask],
    clock: FrozenClock,
    sessions: async_sessionmaker[AsyncSession],
    *,
    registry: CollectorRegistry | None = None,
    grace: float = 2.0,
) -> tuple[TaskSupervisor, list[str]]:
    wakes: list[str] = []

    def context(name: str, stop: asyncio.Event) -> TaskContext:
        return TaskContext(
            name=name,
            sessions=sessions,
            clock=clock,
            publisher=RecordingPublisher(),
            wake_relay=lambda: wakes.append(name),
            stop=stop,
        )

    metrics = TaskMetrics(registry, "vigie_test") if registry is not None else None
    return TaskSupervisor(tasks, context=context, metrics=metrics, grace=grace), wakes


async def settle() -> None:
    """Let the woken tasks run up to their next sleep."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_periodic_task_runs_when_the_clock_says_so(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    ticks: list[datetime] = []

    async def every_minute(ctx: TaskContext) -> None:
        while await ctx.sleep(60):
            ticks.append(ctx.clock.now())
            ctx.wake_relay()

    supervisor, wakes = supervisor_of([BackgroundTask("scheduler", every_minute)], clock, sessions)
    supervisor.start()
    try:
        for _ in range(3):
            await asyncio.wait_for(clock.wait_for_sleepers(1), timeout=1)
            clock.advance(timedelta(seconds=60))
            await settle()
        states = dict(supervisor.states)
    finally:
        await asyncio.wait_for(supervisor.stop(), timeout=5)

    assert ticks == [START + timedelta(minutes=m) for m in (1, 2, 3)]
    assert wakes == ["scheduler"] * 3
    assert states == {"scheduler": "running"}
    assert supervisor.states == {"scheduler": "stopped"}


async def test_a_crashed_task_is_logged_counted_and_restarted_after_a_growing_delay(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    registry = CollectorRegistry()
    runs: list[float] = []

    async def flaky(ctx: TaskContext) -> None:
        runs.append(ctx.clock.monotonic())
        if len(runs) <= 2:
            raise RuntimeError("boom")
        await ctx.stop.wait()

    task = BackgroundTask("sender", flaky, restart_backoff=5, max_restart_backoff=60)
    supervisor, _ = supervisor_of([task], clock, sessions, registry=registry)
    supervisor.start()
    try:
        await asyncio.wait_for(clock.wait_for_sleepers(1), timeout=1)
        first_state = supervisor.states["sender"]
        clock.advance(timedelta(seconds=5))  # first restart after 5 s
        await asyncio.wait_for(clock.wait_for_sleepers(1), timeout=1)
        clock.advance(timedelta(seconds=9))  # the second waits 10 s: not yet
        await settle()
        runs_before_ten = len(runs)
        clock.advance(timedelta(seconds=1))
        await settle()
        final_state = supervisor.states["sender"]
    finally:
        await asyncio.wait_for(supervisor.stop(), timeout=5)

    assert first_state == "restarting after RuntimeError"
    assert runs_before_ten == 2
    assert runs == [0.0, 5.0, 15.0]
    assert final_state == "running"
    restarts = registry.get_sample_value("vigie_test_task_restarts_total", {"task": "sender"})
    assert restarts == 2


async def test_a_task_that_returns_is_finished_not_restarted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    runs: list[int] = []

    async def once(ctx: TaskContext) -> None:
        runs.append(1)

    supervisor, _ = supervisor_of([BackgroundTask("warm-up", once)], clock, sessions)
    supervisor.start()
    await settle()
    state = supervisor.states["warm-up"]
    await asyncio.wait_for(supervisor.stop(), timeout=5)

    assert (runs, state) == ([1], "finished")


async def test_stop_sets_the_event_then_cancels_a_task_that_ignores_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = FrozenClock(START)
    polite_saw_stop = asyncio.Event()
    stubborn_cancelled = asyncio.Event()

    async def polite(ctx: TaskContext) -> None:
        while await ctx.sleep(3600):
            pass
        polite_saw_stop.set()

    async def stubborn(ctx: TaskContext) -> None:
        try:
            await asyncio.Event().wait()  # never looks at ctx.stop
        except asyncio.CancelledError:
            stubborn_cancelled.set()
            raise

    tasks = [BackgroundTask("polite", polite), BackgroundTask("stubborn", stubborn)]
    supervisor, _ = supervisor_of(tasks, clock, sessions, grace=0.2)
    supervisor.start()
    await asyncio.wait_for(clock.wait_for_sleepers(1), timeout=1)

    await asyncio.wait_for(supervisor.stop(), timeout=5)

    assert polite_saw_stop.is_set()
    assert stubborn_cancelled.is_set()
    assert supervisor.states == {"polite": "stopped", "stubborn": "stopped"}


def test_task_names_must_be_unique(sessions: async_sessionmaker[AsyncSession]) -> None:
    async def nothing(ctx: TaskContext) -> None:
        del ctx

    tasks = [BackgroundTask("a", nothing), BackgroundTask("a", nothing)]
    with pytest.raises(ValueError, match="unique"):
        supervisor_of(tasks, FrozenClock(START), sessions)
