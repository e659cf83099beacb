"""The notifier as a real process (``python -m vigie_notifier run``): kills, restarts, its output.

See :mod:`tests.support.worker_process` for what every service process gets.

::

    async with notifier_processes(db_url, bootstrap, tmp_path, env=TIMING) as notifiers:
        a = notifiers.launch("a")              # spawned; a.wait_ready() for /readyz 200
        ...
        await a.kill()                         # SIGKILL: no clean stop, leases left behind
        b = await notifiers.start("b")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.worker_process import (
    WorkerProcess,
    Workers,
    base_environment,
    metric_value,
    worker_processes,
)

__all__ = [
    "NotifierProcess",
    "Notifiers",
    "metric_value",
    "notifier_environment",
    "notifier_processes",
]

NotifierProcess = WorkerProcess
Notifiers = Workers[WorkerProcess]


def notifier_environment(
    db_url: str, bootstrap: str, *, port: int, env: Mapping[str, str]
) -> dict[str, str]:
    """What a deployment sets, for a test deployment; ``env`` overrides or adds variables.

    The SMTP relay (``VIGIE_NOTIFIER_SMTP__PORT``…), the contacts file and the timings are
    the test's to give in ``env``.
    """
    values = base_environment(db_url, bootstrap)
    values.update(
        {
            "VIGIE_NOTIFIER_PORT": str(port),
            "VIGIE_NOTIFIER_OPERATOR": "ORANGE",
            "VIGIE_NOTIFIER_MESSAGE_DOMAIN": "vigie.test",
            "VIGIE_NOTIFIER_SMTP__HOST": "127.0.0.1",
            "VIGIE_NOTIFIER_SMTP__SECURITY": "none",
            "VIGIE_NOTIFIER_SMTP__FROM_ADDRESS": "sav@vigie.test",
            "VIGIE_NOTIFIER_SEND_POLL_INTERVAL_S": "0.1",
            "VIGIE_NOTIFIER_RETRY_BACKOFF_S": "0.2",
            "VIGIE_NOTIFIER_MAX_RETRY_BACKOFF_S": "1.0",
            "VIGIE_NOTIFIER_WATCH_INTERVAL_S": "0.2",
        }
    )
    values.update(env)
    return values


@asynccontextmanager
async def notifier_processes(
    db_url: str, bootstrap: str, log_dir: Path, *, env: Mapping[str, str] | None = None
) -> AsyncIterator[Notifiers]:
    """Notifier processes on ``db_url`` and ``bootstrap``, stopped when the block ends."""

    def environment(port: int, extra: Mapping[str, str]) -> dict[str, str]:
        return notifier_environment(db_url, bootstrap, port=port, env=extra)

    workers = Workers("notifier", environment, log_dir=log_dir, kind=WorkerProcess, env=env)
    async with worker_processes(workers) as started:
        yield started
