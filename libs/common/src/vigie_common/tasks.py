"""Background tasks a worker runs beside its consume loop (scheduler, sender, deadline watcher).

A task is a plain coroutine function taking a :class:`TaskContext`; it loops until
``ctx.stop`` is set, sleeping on the injected clock (``while await ctx.sleep(30): …``), so a
test drives it with a ``FrozenClock``. The :class:`TaskSupervisor` starts them after the
engine and producer exist and stops them with the worker: the stop event first, a grace
period, then cancellation.

A task that raises is logged and restarted after a growing delay (up to a minute); the worker
keeps consuming. That is the chosen policy: a scheduler tripping on a database blip must not
stop the handling of new tickets, and the consume loop already stops the process for bugs in
the message path. A task crashing for good stays visible: a traceback per restart,
``vigie_<service>_task_restarts_total`` and its state in ``/readyz``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigie_common.backoff import Backoff
from vigie_common.clock import Clock
from vigie_common.kafka.errors import describe, is_transient
from vigie_common.kafka.records import Publisher
from vigie_common.logs import Throttle, get_logger

__all__ = ["BackgroundTask", "TaskContext", "TaskFn", "TaskMetrics", "TaskSupervisor"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a background task works with; one per task, sharing the worker's stop event."""

    name: str
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    publisher: Publisher
    """Direct publishing; events that must not be lost go through the outbox instead."""
    wake_relay: Callable[[], None]
    """Call after committing outbox rows so that they leave now, not at the next poll."""
    stop: asyncio.Event
    """Set when the worker stops: finish the item in hand and return."""

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` on the clock; ``False`` (at once) when the worker is stopping."""
        if self.stop.is_set():
            return False
        nap = asyncio.ensure_future(self.clock.sleep(seconds))
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({nap, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (nap, stopping):
                waiter.cancel()
        return not self.stop.is_set()


TaskFn = Callable[[TaskContext], Awaitable[None]]
"""Runs until ``ctx.stop`` is set; returning earlier ends the task (it is not restarted)."""


@dataclass(frozen=True, slots=True)
class BackgroundTask:
    """A named task of a worker (the name labels its logs, metrics and ``/readyz`` state)."""

    name: str
    run: TaskFn
    restart_backoff: float = 1.0
    """Seconds before the first restart after a crash; doubles up to ``max_restart_backoff``."""
    max_restart_backoff: float = 60.0
    healthy_after: float = 60.0
    """A task that ran this long before crashing restarts after ``restart_backoff`` again."""


class TaskMetrics:
    """Restarts per task: a task crashing again and again shows on the dashboards."""

    def __init__(self, registry: CollectorRegistry, prefix: str) -> None:
        self.restarts = Counter(
            f"{prefix}_task_restarts_total",
            "Background task restarts after a crash, by task",
            ["task"],
            registry=registry,
        )


class TaskSupervisor:
    """Runs a worker's background tasks; restarts a crashed one; stops them all on demand."""

    def __init__(
        self,
        tasks: Sequence[BackgroundTask],
        *,
        context: Callable[[str, asyncio.Event], TaskContext],
        metrics: TaskMetrics | None = None,
        grace: float = 10.0,
        log_interval: float = 60.0,
    ) -> None:
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"background task names must be unique: {names}")
        self._tasks = list(tasks)
        self._context = context
        self._metrics = metrics
        self._grace = grace
        self._log_interval = log_interval
        self._stop = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, str] = {t.name: "not started" for t in tasks}
        """Per task: ``running``, ``restarting after <Error>``, ``finished`` or ``stopped``."""

    def start(self) -> None:
        """Start every task (call once, inside the running event loop)."""
        for task in self._tasks:
            self._running[task.name] = asyncio.create_task(
                self._supervise(task), name=f"vigie-task-{task.name}"
            )

    async def stop(self) -> None:
        """Set the stop event, wait ``grace`` seconds for the tasks, then cancel the rest."""
        self._stop.set()
        pending = {t: name for name, t in self._running.items() if not t.done()}
        if pending:
            _, late = await asyncio.wait(pending, timeout=self._grace)
            for task in late:
                log.warning("background task cancelled after the grace period", task=pending[task])
                task.cancel()
            if late:
                await asyncio.wait(late)
        self.states = dict.fromkeys(self.states, "stopped")

    async def _supervise(self, task: BackgroundTask) -> None:
        ctx = self._context(task.name, self._stop)
        backoff = Backoff(task.restart_backoff, task.max_restart_backoff)
        throttle = Throttle(self._log_interval, now=ctx.clock.monotonic)
        while not self._stop.is_set():
            self.states[task.name] = "running"
            started = ctx.clock.monotonic()
            try:
                await task.run(ctx)
            except Exception as exc:  # noqa: BLE001 - the policy: log, count, restart
                if self._stop.is_set():
                    log.warning("background task failed while stopping", task=task.name)
                    return
                if ctx.clock.monotonic() - started >= task.healthy_after:
                    backoff.reset()
                delay = backoff.next()
                self._crashed(task.name, exc, delay, throttle)
                if not await ctx.sleep(delay):
                    return
                continue
            if not self._stop.is_set():
                log.info("background task finished", task=task.name)
                self.states[task.name] = "finished"
            return

    def _crashed(self, name: str, exc: Exception, delay: float, throttle: Throttle) -> None:
        self.states[name] = f"restarting after {type(exc).__name__}"
        if self._metrics is not None:
            self._metrics.restarts.labels(name).inc()
        if not is_transient(exc):
            log.error("background task crashed", task=name, restart_in=delay, exc_info=exc)
            return
        suppressed = throttle.allow("transient")  # the database away: one line per interval
        if suppressed is not None:
            log.warning(
                "background task failed, will restart",
                task=name,
                error=describe(exc),
                restart_in=delay,
                suppressed=suppressed,
            )
