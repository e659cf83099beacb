"""The prober bench's figures beside their targets, and the one-line JSON of the run.

Targets are ratios of throughputs measured in the same run on the same lab (routers done per
second, ``ok / wall``), so a slow or busy machine moves every contender together. They are
reported, never asserted.
"""

from __future__ import annotations

import math
from typing import Any

from bench.ingest.report import Target, json_line

__all__ = ["TARGETS", "json_line", "render"]

TARGETS = (
    Target("ratio_vs_asyncssh", "vigie vs raw asyncssh (floor)", ">=", 0.7, "x"),
    Target("ratio_vs_netmiko", "vigie vs Netmiko (threads)", ">=", 2.0, "x"),
    Target("ratio_vs_scrapli", "vigie vs Scrapli (asyncio)", ">=", 1.1, "x"),
    Target("prober_peak_rss_mb", "prober peak RSS (vigie runs)", "<=", 400, "MB"),
)

ROWS = (
    ("vigie", "vigie probe", "direct"),
    ("asyncssh", "raw asyncssh", "direct"),
    ("scrapli", "scrapli asyncio", "direct"),
    ("netmiko", "netmiko threads", "direct"),
    ("vigie_jump", "vigie probe", "jump host"),
    ("asyncssh_jump", "raw asyncssh", "jump host"),
)


def fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    """A figure for a human: n/a when missing, thousands separated."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text}{unit and ' ' + unit}"


def _row(figures: dict[str, Any], key: str, label: str, path: str) -> str:
    f = figures.get
    wall = f(f"{key}_wall_s")
    note = ""
    if f(f"{key}_extrapolated_wall_s") is not None:
        wall = f(f"{key}_extrapolated_wall_s")
        note = f"  * measured on {f(f'{key}_routers')} routers, extrapolated"
    failures = f(f"{key}_failed")
    return (
        f"  {label:16} {path:9} {fmt(wall):>9} {fmt(f(f'{key}_per_s'), digits=1):>10}"
        f" {fmt(f(f'{key}_ok')):>6} {fmt(failures):>6} {fmt(f(f'{key}_cpu_s')):>7}"
        f" {fmt(f(f'{key}_lab_cpu_cores')):>9} {fmt(f(f'{key}_peak_rss_mb'), digits=0):>8}"
        f"   {fmt(f(f'{key}_walls_s'))}{note}"
    )


def _vigie_lines(figures: dict[str, Any], key: str) -> list[str]:
    f = figures.get
    if f(f"{key}_wall_s") is None:
        return []
    means = f(f"{key}_layer_mean_s") or {}
    layers = ", ".join(f"{name.removesuffix('_s')} {value:.3f}" for name, value in means.items())
    return [
        f"  {key}: mean seconds per router: {layers or 'n/a'}",
        f"  {key}: verdicts {f(f'{key}_verdicts')}, failed layers {f(f'{key}_failed_layers')},"
        f" ping from {f(f'{key}_ping')} by {f(f'{key}_ping_methods')},"
        f" {fmt(f(f'{key}_router_logins'))} logins, peak sessions {f(f'{key}_peak_sessions')},"
        f" paced {fmt(f(f'{key}_paced_s'), 's')}, closing the kept connections after the clock"
        f" {fmt(f(f'{key}_close_s'), 's')}",
    ]


def render(figures: dict[str, Any]) -> list[str]:
    """Human-readable lines: the contenders' table, vigie's layers, then the targets."""
    f = figures.get
    lines = [
        "",
        f"== prober benchmark: {fmt(f('routers'))} ETX routers, {f('concurrency')} in flight"
        f" (netmiko: {f('netmiko_workers')} threads), median of {f('rounds')} round(s),"
        f" network namespace: {'yes' if f('netns') else 'no'} ==",
        "vigie: full probe (ping, login, alarm log, parse, verdict) with logins unpaced"
        f" (logins_per_second={f('logins_per_second')}); peers: alarm log only, checked after"
        " the clock",
        f"  {'contender':16} {'path':9} {'wall s':>9} {'routers/s':>10} {'done':>6}"
        f" {'failed':>6} {'CPU s':>7} {'lab cores':>9} {'RSS MB':>8}   wall s each round",
    ]
    lines += [_row(figures, key, label, path) for key, label, path in ROWS if f(f"{key}_wall_s")]
    for key, _, _ in ROWS:
        for failure in f(f"{key}_failures") or []:
            lines.append(f"  {key} failure: {failure}")
    lines += _vigie_lines(figures, "vigie") + _vigie_lines(figures, "vigie_jump")
    if f("jump_ratio_vs_asyncssh") is not None:
        lines.append(
            "  through the jump host: vigie vs raw asyncssh"
            f" {fmt(f('jump_ratio_vs_asyncssh'), 'x')} (reported, no target)"
        )
    busy = f("machine_busy_cores_before_max")
    if busy is not None and busy > 0.25:
        lines.append(
            f"  WARNING other work kept up to {busy:.2f} CPUs busy before a phase:"
            " figures are lower than on a quiet machine"
        )
    lines += ["", "targets (ratios of routers/s in this run):"]
    for target in TARGETS:
        value = f(target.key)
        goal = f"{target.op} {fmt(float(target.threshold), target.unit)}"
        lines.append(
            f"  {target.verdict(value):4}  {target.label:32} {fmt(value, target.unit):>12}"
            f"   target {goal}"
        )
    if f("error"):
        lines.append(f"ERROR: {f('error')}")
    return lines
