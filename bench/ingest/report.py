"""The figures next to their targets, and the one-line JSON the last line of a run carries.

Targets are reported, never asserted: a MISS is information for whoever reads the run (or a
CI job that parses the JSON), not a failure of the benchmark itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Target:
    """A figure's goal: ``key`` in the JSON must be ``op`` ``threshold``."""

    key: str
    label: str
    op: Literal[">=", "<="]
    threshold: float
    unit: str
    note: str = ""

    def verdict(self, value: Any) -> str:
        """PASS, MISS, or n/a when the figure was not measured."""
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return "n/a"
        ok = value >= self.threshold if self.op == ">=" else value <= self.threshold
        return "PASS" if ok else "MISS"


TARGETS = (
    Target("accepted_per_s", "accepted webhooks per second", ">=", 1500, "/s"),
    Target("p99_ms", "webhook latency p99", "<=", 50, "ms"),
    Target("ratio_vs_bare", "throughput vs bare FastAPI", ">=", 0.25, "", "aim 0.5"),
    Target("outbox_to_kafka_p99_ms", "outbox-to-Kafka p99 (consumer)", "<=", 250, "ms"),
)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf"
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text}{unit and ' ' + unit}"


def render(figures: dict[str, Any]) -> list[str]:
    """Human-readable lines: what was measured, then each target with PASS/MISS."""
    f = figures.get
    lines = [
        "",
        f"== ingest benchmark: {f('duration_s')} s, concurrency {f('concurrency')},"
        f" wrk -t{f('threads')}, system under test: {f('sut')} ==",
        f"bare FastAPI     {_fmt(f('bare_requests_per_s'), 'req/s')}"
        f"   p50 {_fmt(f('bare_p50_ms'), 'ms')}  p99 {_fmt(f('bare_p99_ms'), 'ms')}"
        f"   non-2xx {_fmt(f('bare_non_2xx'))}  socket errors {_fmt(f('bare_socket_errors'))}"
        f"   server CPU {_fmt(f('bare_cpu_cores'), 'cores')}",
    ]
    if f("sut") != "none":
        lines += [
            f"ingest           {_fmt(f('requests_per_s'), 'req/s')}"
            f" ({_fmt(f('accepted_per_s'), 'accepted/s')})"
            f"   p50 {_fmt(f('p50_ms'), 'ms')}  p90 {_fmt(f('p90_ms'), 'ms')}"
            f"  p99 {_fmt(f('p99_ms'), 'ms')}  max {_fmt(f('max_ms'), 'ms')}"
            f"   server CPU {_fmt(f('sut_cpu_cores'), 'cores')}",
            f"responses        statuses {f('status_counts')}  non-2xx {_fmt(f('non_2xx'))}"
            f"  socket errors {_fmt(f('socket_errors'))}  requests reused {_fmt(f('wraps'))}",
            f"kafka (consumer) {_fmt(f('events_received'))} events received"
            f" ({_fmt(f('events_distinct'))} distinct) for {_fmt(f('accepted'))} 202s"
            f" + {_fmt(f('unanswered'))} unanswered"
            f" -> {'MATCH' if f('events_match') else 'MISMATCH'}"
            f" ({_fmt(f('events_missing'))} missing)"
            f" after {_fmt(f('drain_s'), 's')} of draining;"
            f" delay p50 {_fmt(f('outbox_to_kafka_p50_ms'), 'ms')}"
            f" p99 {_fmt(f('outbox_to_kafka_p99_ms'), 'ms')}"
            f" max {_fmt(f('outbox_to_kafka_max_ms'), 'ms')}",
            f"relay (/metrics) {_fmt(f('relay_published'))} published,"
            f" delay p50 <= {_fmt(f('relay_delay_p50_ms'), 'ms')}"
            f" p99 <= {_fmt(f('relay_delay_p99_ms'), 'ms')},"
            f" backlog after draining {_fmt(f('backlog_after_drain'))}",
            "",
            "targets:",
        ]
        for target in TARGETS:
            value = f(target.key)
            goal = f"{target.op} {_fmt(float(target.threshold), target.unit)}"
            note = f" ({target.note})" if target.note else ""
            lines.append(
                f"  {target.verdict(value):4}  {target.label:32} {_fmt(value, target.unit):>14}"
                f"   target {goal}{note}"
            )
    if f("error"):
        lines.append(f"ERROR: {f('error')}")
    return lines


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null, floats keep three decimals."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def json_line(figures: dict[str, Any]) -> str:
    """The figures as one JSON object on one line."""
    return json.dumps(_clean(figures), separators=(", ", ": "), allow_nan=False)
