"""What one publish attempt of the relay did, and how operators and writers are told.

Logs are throttled: an outage repeats the same failure for hours, and one line per commit
filled disks before. A repeated failure is logged once per interval with the count held back
(``suppressed``), and "resumed" once publishing works again. Metrics count everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from vigie_common.db.backlog import BacklogGate
from vigie_common.db.outbox_rows import error_text
from vigie_common.db.relay_metrics import RelayMetrics
from vigie_common.kafka.failures import is_permanent
from vigie_common.logs import Throttle, get_logger

log = get_logger(__name__)

Results = list[BaseException | None]
"""Per record: ``None`` when acknowledged, else the error."""


@dataclass
class Outcome:
    """What one publish attempt did to its rows, in ``seq`` order."""

    sent: list[Any] = field(default_factory=list)
    dead: list[tuple[Any, BaseException]] = field(default_factory=list)
    failure: tuple[Any, BaseException] | None = None
    waiting: int = 0
    """Rows left pending from the failed one on (it included)."""

    @classmethod
    def of(cls, rows: list[Any], results: Results) -> Outcome:
        """Sort rows by result; stop at the first transient failure (what follows waits)."""
        outcome = cls()
        for index, (row, error) in enumerate(zip(rows, results, strict=True)):
            if error is None:
                outcome.sent.append(row)
            elif is_permanent(error):
                outcome.dead.append((row, error))
            else:
                outcome.failure = (row, error)
                outcome.waiting = len(rows) - index
                break
        return outcome


class RelayReports:
    """The relay's logs (once per interval), metrics and flow-control accounting."""

    def __init__(
        self, *, throttle: Throttle, metrics: RelayMetrics | None, gate: BacklogGate | None
    ) -> None:
        self._throttle = throttle
        self._metrics = metrics
        self._gate = gate
        self._failures: set[str] = set()

    def set_aside(self, row: Any, error: BaseException, reason: str) -> None:
        """A dead row: logged once, but a storm (every event of a topic) once per interval."""
        suppressed = self._throttle.allow(f"dead:{row.topic}:{type(error).__name__}")
        if suppressed is not None:
            log.error(
                "outbox event set aside: the broker refuses it for good",
                event_id=row.event_id,
                topic=row.topic,
                key=row.key,
                size=len(row.value),
                reason=reason,
                suppressed=suppressed,
            )

    def publish_failed(self, error: BaseException, *, waiting: int) -> None:
        """A transient publish failure (the broker away or busy)."""
        suppressed = self._allow(f"publish:{type(error).__name__}")
        if suppressed is not None:
            log.warning(
                "outbox publish failed; retrying with backoff",
                error=error_text(error),
                waiting=waiting,
                suppressed=suppressed,
            )

    def cycle_failed(self, error: Exception) -> None:
        """A failure outside publishing: the database, or a bug (which shows its traceback)."""
        suppressed = self._allow(f"cycle:{type(error).__name__}")
        if suppressed is not None:
            operational = isinstance(error, DBAPIError | OSError | TimeoutError)
            log.warning(
                "outbox relay cycle failed",
                error=error_text(error),
                suppressed=suppressed,
                exc_info=not operational,
            )

    def resumed(self) -> None:
        """Publishing works again: say so once, and log the next failure at once."""
        if not self._failures:
            return
        log.info("outbox relay resumed")
        for key in self._failures:
            self._throttle.reset(key)
        self._failures.clear()

    def counted(self, outcome: Outcome, now: datetime) -> None:
        """Tell the backlog gate and the metrics what the attempt did."""
        failure = outcome.failure
        if self._gate is not None:
            self._gate.published(len(outcome.sent) + len(outcome.dead), failed=failure is not None)
        metrics = self._metrics
        if metrics is None:
            return
        metrics.published.inc(len(outcome.sent))
        for row in outcome.sent:
            metrics.delay.observe(max((now - row.created_at).total_seconds(), 0.0))
        for error in [e for _r, e in outcome.dead] + ([failure[1]] if failure else []):
            metrics.errors.labels(type(error).__name__).inc()
        metrics.set_aside.inc(len(outcome.dead))
        metrics.dead.inc(len(outcome.dead))  # exact again at the next refresh_stats

    def stats(self, *, backlog: int, oldest_age: float, dead: int) -> None:
        """The database's own counts, which also know about restarts and other replicas."""
        if self._gate is not None:
            self._gate.reset(backlog)
        if self._metrics is not None:
            self._metrics.backlog.set(backlog)
            self._metrics.oldest_age.set(oldest_age)
            self._metrics.dead.set(dead)

    def _allow(self, key: str) -> int | None:
        self._failures.add(key)
        return self._throttle.allow(key)
