"""The notifier bench's figures beside their targets, and the one-line JSON of the run.

Phase (a)'s targets are the notifier's mails per second, absolute and as a share of the bare
aiosmtplib loop's on the same sink in the same run; phase (b)'s are ``deadlines.py``'s own,
read from its JSON with the ``deadlines_`` prefix. They are reported, never asserted.
"""

from __future__ import annotations

from typing import Any

from bench.ingest.report import Target, json_line
from bench.notifier import deadlines
from bench.prober.report import fmt

__all__ = ["DEADLINES_PREFIX", "TARGETS", "fmt", "json_line", "render", "verdicts"]

DEADLINES_PREFIX = "deadlines_"
TARGETS = (
    Target("notifier_mails_per_s", "notifier mails/s, end to end", ">=", 300, "/s"),
    Target("ratio_vs_floor", "notifier vs bare aiosmtplib (floor)", ">=", 0.4, "x"),
)


def verdicts(figures: dict[str, Any]) -> dict[str, str]:
    """PASS, MISS or n/a for every target of both phases."""
    out = {t.key: t.verdict(figures.get(t.key)) for t in TARGETS}
    for target in deadlines.TARGETS:
        key = DEADLINES_PREFIX + target.key
        out[key] = target.verdict(figures.get(key))
    return out


def _target_line(target: Target, value: Any) -> str:
    note = f" ({target.note})" if target.note else ""
    return (
        f"  {target.verdict(value):4}  {target.label:38} {fmt(value, target.unit):>12}"
        f"   target {target.op} {target.threshold:,g}{note}"
    )


def _notifier(figures: dict[str, Any]) -> list[str]:
    f = figures.get
    return [
        f"notifier end to end  {fmt(f('notifier_sent'))} mails in {fmt(f('notifier_wall_s'), 's')}"
        f" = {fmt(f('notifier_mails_per_s'), '/s', 0)}   (polling saw the N-th after"
        f" {fmt(f('notifier_wall_polled_s'), 's')})",
        f"  latency            verdict event time -> 250 from the sink:"
        f" p50 {fmt(f('notifier_latency_p50_ms'), 'ms', 0)}"
        f"  p99 {fmt(f('notifier_latency_p99_ms'), 'ms', 0)}"
        f"  max {fmt(f('notifier_latency_max_ms'), 'ms', 0)}",
        f"  stages             verdicts published in {fmt(f('notifier_publish_s'), 's')};"
        f" all decided, rendered and stored after {fmt(f('notifier_stored_all_s'), 's')}"
        f" ({fmt(f('notifier_stored_per_s'), '/s', 0)})",
        "                     verdict -> stored"
        f" p50 {fmt(f('notifier_verdict_to_stored_p50_ms'), 'ms', 0)}"
        f" p99 {fmt(f('notifier_verdict_to_stored_p99_ms'), 'ms', 0)};"
        f" stored -> sent p50 {fmt(f('notifier_stored_to_sent_p50_ms'), 'ms', 0)}"
        f" p99 {fmt(f('notifier_stored_to_sent_p99_ms'), 'ms', 0)};"
        f" SMTP per send (its histogram) mean {fmt(f('notifier_smtp_mean_ms'), 'ms')}",
        f"  CPU (cores)        notifier {fmt(f('notifier_notifier_cpu_cores'))}"
        f"  postgres {fmt(f('notifier_postgres_cpu_cores'))}"
        f"  broker {fmt(f('notifier_broker_cpu_cores'))}"
        f"  sink {fmt(f('notifier_sink_cpu_cores'))}"
        f"  harness {fmt(f('notifier_harness_cpu_cores'))}"
        f"  = machine {fmt(f('notifier_machine_cpu_cores'))} of {f('cpus')}",
        f"  CPU per mail       notifier {fmt(f('notifier_notifier_cpu_ms_per_mail'), 'ms')}"
        f"  postgres {fmt(f('notifier_postgres_cpu_ms_per_mail'), 'ms')}"
        f"  broker {fmt(f('notifier_broker_cpu_ms_per_mail'), 'ms')}"
        f"  sink {fmt(f('notifier_sink_cpu_ms_per_mail'), 'ms')}",
        f"  database           {fmt(f('notifier_db_xacts_per_mail'))} transactions per mail,"
        f" {fmt(f('notifier_db_sessions_opened'))} sessions opened during the run"
        " (pg_stat_database, approximate)",
        f"  checks             sink accepted {fmt(f('notifier_sink_received'))}"
        f" ({fmt(f('notifier_sink_unknown'))} unknown, {fmt(f('notifier_sink_repeated'))}"
        f" repeated); rows {f('notifier_states')}; send retries {fmt(f('notifier_send_retries'))};"
        f" consumed {f('notifier_consumed')}",
    ]


def _floor(figures: dict[str, Any]) -> list[str]:
    f = figures.get
    same = f("floor_same_as_notifier")
    lines = [
        f"floor (aiosmtplib)   {fmt(f('floor_sent'))} mails in {fmt(f('floor_wall_s'), 's')}"
        f" = {fmt(f('floor_mails_per_s'), '/s', 0)}   failures {fmt(f('floor_failures'))}",
        f"  CPU (cores)        client (this harness) {fmt(f('floor_harness_cpu_cores'))}"
        f"  sink {fmt(f('floor_sink_cpu_cores'))}  postgres {fmt(f('floor_postgres_cpu_cores'))}"
        f"  = machine {fmt(f('floor_machine_cpu_cores'))} of {f('cpus')};"
        f" CPU per mail: client {fmt(f('floor_harness_cpu_ms_per_mail'), 'ms')},"
        f" sink {fmt(f('floor_sink_cpu_ms_per_mail'), 'ms')}",
        f"  same mails         {'yes' if same else 'n/a' if same is None else 'NO'}"
        f" (subject, text, HTML and thread of each against the notifier's rows);"
        f" mean size notifier {fmt(f('notifier_mail_bytes'), 'B', 0)},"
        f" floor {fmt(f('floor_mail_bytes'), 'B', 0)}; rendered in {fmt(f('render_s'), 's')}",
    ]
    lines += [f"  differs: {d}" for d in f("floor_differences") or []]
    return lines


def render(figures: dict[str, Any]) -> list[str]:
    """Human-readable lines: phase (a), its targets, phase (b) as deadlines.py shows it."""
    f = figures.get
    lines = [
        "",
        f"== notifier: {fmt(f('mails'))} mails, {f('concurrency')} in flight, {f('database')},"
        f" sink stores {f('sink_store')}, send poll {f('poll_interval_s')} s,"
        f" log {f('log_level')}, {f('cpus')} CPUs ==",
        f"machine busy before  notifier {fmt(f('notifier_machine_busy_cores_before'))},"
        f" floor {fmt(f('floor_machine_busy_cores_before'))},"
        f" deadlines {fmt(f('deadlines_machine_busy_cores_before'))} cores",
    ]
    if f("notifier_sent") is not None:
        lines += _notifier(figures)
    if f("floor_sent") is not None:
        lines += _floor(figures)
    lines += [
        f"ratio                notifier / floor = {fmt(f('ratio_vs_floor'), 'x')}",
        "",
        "targets:",
    ]
    lines += [_target_line(t, f(t.key)) for t in TARGETS]
    own = {
        k[len(DEADLINES_PREFIX) :]: v for k, v in figures.items() if k.startswith(DEADLINES_PREFIX)
    }
    if "compared" in own:
        lines += deadlines.render(own)
    if f("error"):
        lines.append(f"ERROR: {f('error')}")
    return lines
