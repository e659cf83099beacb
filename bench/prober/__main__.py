"""Prober benchmark: ``uv run python -m bench.prober`` (``make bench-prober``).

A fleet of simulated RAD ETX-203AM routers runs in a lab process of its own. On that same
fleet, one contender at a time, each in a fresh process:

1. **vigie**: ``probe_device`` on every router: ping, SSH login, alarm log, parse, verdict;
2. **raw asyncssh**: one connection and one exec of the alarm-log command per router (the floor);
3. **Scrapli** (asyncio, asyncssh transport) and 4. **Netmiko** (a thread pool): the same log;
5. and 6. vigie and raw asyncssh again, every router reached through the lab's jump host.

Every phase runs ``--rounds`` times, in that order each round; a contender's figures are
from its median round. Progress is printed as it goes; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.ingest.processes import ProcessError
from bench.prober import report
from bench.prober.fleet import JUMP_PASSWORD_ENV, ROUTER_PASSWORD_ENV
from bench.prober.lab_process import LabProcess
from bench.prober.phases import Phase, run_phase

_STARTED = time.monotonic()
CONTENDERS: Final = ("vigie", "asyncssh", "scrapli", "netmiko")
SKIPPABLE: Final = (*CONTENDERS, "jump")
PING_GROUP_RANGE: Final = Path("/proc/sys/net/ipv4/ping_group_range")
ALL_GROUPS: Final = "0 2147483647"
"""What Docker sets in a container's namespace: every group may open ICMP sockets."""


def say(message: str) -> None:
    """A progress line, stamped with the seconds since the run started."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


@dataclass(frozen=True)
class Options:
    """Command-line options; the defaults are what the targets are defined against."""

    routers: int
    concurrency: int
    netmiko_workers: int
    netmiko_routers: int
    rounds: int
    warmup: int
    skip: frozenset[str]
    ping: str
    connect_timeout_s: float
    command_timeout_s: float
    phase_timeout_s: float
    netns: bool
    in_netns: bool


def _skip_list(text: str) -> frozenset[str]:
    names = frozenset(word.strip() for word in text.split(",") if word.strip())
    unknown = names - set(SKIPPABLE)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(sorted(unknown))}; choose among {', '.join(SKIPPABLE)}"
        )
    return names


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Read the options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.prober",
        description="Prober benchmark: vigie's full probe of a lab fleet against raw asyncssh,"
        " Scrapli and Netmiko collecting the same alarm log.",
    )
    parser.add_argument("--routers", type=int, default=1000, help="routers in the lab fleet")
    parser.add_argument(
        "--concurrency", type=int, default=100, help="routers in flight (vigie's session bound)"
    )
    parser.add_argument(
        "--netmiko-workers", type=int, help="Netmiko's threads (default: --concurrency)"
    )
    parser.add_argument(
        "--netmiko-routers",
        type=int,
        help="run Netmiko on the first N routers only and extrapolate its wall time",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument(
        "--warmup", type=int, default=50, help="routers of a raw asyncssh warm-up (0: none)"
    )
    parser.add_argument(
        "--skip", type=_skip_list, default=frozenset(), help="comma list: " + ",".join(SKIPPABLE)
    )
    parser.add_argument(
        "--ping",
        choices=("prober", "jump_host", "none"),
        default="prober",
        help="where vigie's layer 1 pings from (jump_host: only in the jump host run)",
    )
    parser.add_argument("--connect-timeout", type=float, default=30.0, help="seconds, every one")
    parser.add_argument("--command-timeout", type=float, default=30.0, help="seconds, every one")
    parser.add_argument("--phase-timeout", type=float, default=300.0, help="seconds per phase")
    parser.add_argument(
        "--quick", action="store_true", help="100 routers, 1 round, 20 warm-up: a fast check"
    )
    parser.add_argument(
        "--netns",
        action="store_true",
        help="run in a new network namespace (loopback only) where unprivileged ICMP is"
        " allowed, as in the prober's container (needs root and unshare)",
    )
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.routers, args.rounds, args.warmup = min(args.routers, 100), 1, min(args.warmup, 20)
    if args.routers < 1 or args.concurrency < 1 or args.rounds < 1:
        parser.error("--routers, --concurrency and --rounds must be at least 1")
    workers = args.netmiko_workers or args.concurrency
    subset = min(args.netmiko_routers or args.routers, args.routers)
    return Options(
        routers=args.routers,
        concurrency=args.concurrency,
        netmiko_workers=workers,
        netmiko_routers=subset,
        rounds=args.rounds,
        warmup=min(args.warmup, args.routers),
        skip=args.skip,
        ping=args.ping,
        connect_timeout_s=args.connect_timeout,
        command_timeout_s=args.command_timeout,
        phase_timeout_s=args.phase_timeout,
        netns=args.netns or args.in_netns,
        in_netns=args.in_netns,
    )


def phases(opts: Options) -> list[Phase]:
    """The phases of one round, in the spec's order, less the skipped ones."""
    wanted = [Phase(c) for c in CONTENDERS if c not in opts.skip]
    if "jump" not in opts.skip:
        wanted += [Phase(c, via_jump=True) for c in ("vigie", "asyncssh") if c not in opts.skip]
    return wanted


def child_env(passwords: dict[str, str]) -> dict[str, str]:
    """The lab's and the contenders' environment: no VIGIE_* of the caller's, the passwords."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(passwords)
    return env


def child_args(opts: Options, routers: int) -> list[str]:
    """The child's arguments: the same bounds for every contender."""
    return [
        "--routers",
        str(routers),
        "--concurrency",
        str(opts.concurrency),
        "--workers",
        str(opts.netmiko_workers),
        "--ping",
        opts.ping,
        "--connect-timeout",
        str(opts.connect_timeout_s),
        "--command-timeout",
        str(opts.command_timeout_s),
    ]


def _progress(phase: Phase, result: dict[str, Any]) -> str:
    f = result.get
    return (
        f"{phase.key}: {f('routers')} routers in {f('wall_s'):.2f} s"
        f" ({f('per_s') or 0:.1f}/s), {f('ok')} done, {f('failed')} failed,"
        f" CPU {f('cpu_s'):.2f} s, lab {report.fmt(f('lab_cpu_cores'))} cores,"
        f" peak RSS {f('peak_rss_mb'):.0f} MB"
        f", machine busy before {report.fmt(f('machine_busy_cores_before'))} cores"
    )


def median_round(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose wall time is the median (the lower one of an even count)."""
    ordered = sorted(results, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def aggregate(key: str, results: list[dict[str, Any]], fleet_size: int) -> dict[str, Any]:
    """One contender's figures: its median round's, the worst failures, the highest RSS."""
    chosen = dict(median_round(results))
    for field in ("contender", "path", "command"):
        chosen.pop(field, None)
    worst = max(results, key=lambda r: r["failed"])
    chosen.update(
        failed=worst["failed"],
        ok=min(r["ok"] for r in results),
        failures=worst["failures"],
        failure_kinds=worst["failure_kinds"],
        peak_rss_mb=max(r["peak_rss_mb"] for r in results),
        walls_s=[round(r["wall_s"], 2) for r in results],
        per_s=statistics.median(r["per_s"] or 0.0 for r in results),
    )
    if chosen["routers"] < fleet_size and chosen["per_s"]:
        chosen["extrapolated_wall_s"] = fleet_size / chosen["per_s"]
    return {f"{key}_{name}": value for name, value in chosen.items()}


def ratios(figures: dict[str, Any]) -> None:
    """vigie's throughput over each peer's, in the same run."""

    def ratio(mine: str, theirs: str) -> float | None:
        a, b = figures.get(f"{mine}_per_s"), figures.get(f"{theirs}_per_s")
        return a / b if a is not None and b else None

    figures["ratio_vs_asyncssh"] = ratio("vigie", "asyncssh")
    figures["ratio_vs_netmiko"] = ratio("vigie", "netmiko")
    figures["ratio_vs_scrapli"] = ratio("vigie", "scrapli")
    figures["jump_ratio_vs_asyncssh"] = ratio("vigie_jump", "asyncssh_jump")
    rss = [figures.get(f"{k}_peak_rss_mb") for k in ("vigie", "vigie_jump")]
    figures["prober_peak_rss_mb"] = max((r for r in rss if r is not None), default=None)


def _check_running(lab: LabProcess) -> None:
    """Raise when the lab process has exited: every later phase would fail."""
    if not lab.running:
        raise ProcessError(f"the lab stopped; log {lab.log_path}")


async def bench(opts: Options) -> tuple[dict[str, Any], int]:
    """Start the lab, run every phase each round, aggregate; the exit code is 1 if one failed."""
    figures: dict[str, Any] = {
        "routers": opts.routers,
        "concurrency": opts.concurrency,
        "netmiko_workers": opts.netmiko_workers,
        "rounds": opts.rounds,
        "ping": opts.ping,
        "logins_per_second": 0,
        "netns": opts.netns,
        "cpus": os.cpu_count(),
    }
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-prober-"))
    say(f"logs in {workdir}")
    passwords = {
        ROUTER_PASSWORD_ENV: secrets.token_urlsafe(18),
        JUMP_PASSWORD_ENV: secrets.token_urlsafe(18),
    }
    env = child_env(passwords)
    errors: list[str] = []
    failed: set[str] = set()
    results: dict[str, list[dict[str, Any]]] = {}
    lab = LabProcess(
        routers=opts.routers, data_dir=workdir / "lab", log_path=workdir / "lab.log", env=env
    )
    try:
        say(f"lab: starting {opts.routers:,} ETX routers and a jump host (vigie-lab run)")
        async with lab:
            assert lab.inventory is not None
            say(f"lab: ready in {lab.started_in_s:.1f} s, pid {lab.pid}, inventory {lab.inventory}")
            if opts.warmup:
                say(f"warm-up: raw asyncssh on {opts.warmup} routers (not counted)")
                await run_phase(
                    Phase("asyncssh"),
                    inventory=lab.inventory,
                    args=child_args(opts, opts.warmup),
                    env=env,
                    log_path=workdir / "warmup.log",
                    lab_pid=lab.pid,
                    timeout_s=opts.phase_timeout_s,
                )
            for round_ in range(1, opts.rounds + 1):
                for phase in phases(opts):
                    _check_running(lab)
                    if phase.key in failed:
                        continue  # failed once: its other rounds would mislead
                    routers = opts.netmiko_routers if phase.contender == "netmiko" else opts.routers
                    try:
                        result = await run_phase(
                            phase,
                            inventory=lab.inventory,
                            args=child_args(opts, routers),
                            env=env,
                            log_path=workdir / f"{phase.key}.log",
                            lab_pid=lab.pid,
                            timeout_s=opts.phase_timeout_s,
                        )
                    except ProcessError as exc:
                        failed.add(phase.key)
                        errors.append(str(exc).splitlines()[0])
                        say(f"round {round_}: FAILED {exc}")
                        continue
                    results.setdefault(phase.key, []).append(result)
                    say(f"round {round_}: {_progress(phase, result)}")
    except (ProcessError, OSError, ValueError) as exc:
        errors.append(str(exc).splitlines()[0] if str(exc) else repr(exc))
        say(f"FAILED: {exc}")
    except Exception as exc:  # noqa: BLE001 - any failure still ends with the JSON line
        errors.append(repr(exc))
        say(f"FAILED: {exc!r}")
    for key, runs in results.items():
        figures.update(aggregate(key, runs, opts.routers))
    busy = [r["machine_busy_cores_before"] for runs in results.values() for r in runs]
    figures["machine_busy_cores_before_max"] = max((b for b in busy if b is not None), default=None)
    ratios(figures)
    if errors:
        figures["error"] = "; ".join(errors)
    figures["logs"] = str(workdir)
    return figures, 1 if errors else 0


def enter_netns(argv: Sequence[str]) -> int:
    """Become this bench again in a new network namespace (``unshare`` execs it in place).

    The namespace has its own loopback (brought up) and its own ``ping_group_range``, opened
    to every group as Docker opens it in a container: vigie's layer 1 then pings through
    unprivileged ICMP sockets, the way the prober does in its image, instead of the raw
    socket it falls back on as root. The machine's own settings are not touched.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        say("FAILED: --netns needs unshare (util-linux)")
        return 1
    command = [unshare, "--net", "--", sys.executable, "-m", "bench.prober", *argv, "--in-netns"]
    sys.stdout.flush()
    os.execv(unshare, command)  # same process: signals and the exit code are the bench's


def prepare_netns() -> None:
    """Inside the new namespace: loopback up, unprivileged ICMP allowed for every group."""
    ip = shutil.which("ip")
    if ip is None:
        raise OSError("--netns needs ip (iproute2)")
    subprocess.run([ip, "link", "set", "lo", "up"], check=True)
    PING_GROUP_RANGE.write_text(ALL_GROUPS + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run, print the report, and print the JSON figures as the last line."""
    raw = list(sys.argv[1:] if argv is None else argv)
    opts = parse_args(raw)
    if opts.netns and not opts.in_netns:
        return enter_netns(raw)
    if opts.in_netns:
        prepare_netns()

    async def run() -> tuple[dict[str, Any], int]:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await bench(opts)

    try:
        figures, code = asyncio.run(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every process the benchmark started has been stopped", flush=True)
        return 130
    for line in report.render(figures):
        print(line)
    print(report.json_line(figures), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
