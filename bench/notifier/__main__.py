"""Notifier benchmark: ``uv run python -m bench.notifier`` (``make bench-notifier``).

One run measures, one phase after the other:

(a) **mails/s end to end**: ``vigie-notifier run`` on PostgreSQL and the embedded broker takes
    N final stable verdicts from Kafka, decides, renders, sends one CLT5 per verdict to an
    SMTP sink in a process of its own, and records each send
    (:mod:`bench.notifier.pipeline`); then the **floor**: a bare aiosmtplib loop sends the
    same N rendered mails to the same sink at the same concurrency
    (:mod:`bench.notifier.floor`);
(b) **GTR deadlines/s** against ``businesstimedelta``: ``python -m bench.notifier.deadlines``
    in a fresh process (its *cold* pass needs one), its figures merged under ``deadlines_``.

The machine's busy cores are read before each phase. Progress is printed as it goes; the
last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.ingest.processes import ProcessError, busy_cores
from bench.notifier import floor, report
from bench.notifier.cpu import CpuMeter, busy_note, per_mail
from bench.notifier.pipeline import NotifierOptions, Rows, run_notifier
from bench.notifier.sink import SinkProcess

_STARTED = time.monotonic()
PHASES: Final = ("notifier", "floor", "deadlines")
QUICK_MAILS: Final = 300
_STAMP: Final = re.compile(r"^\[bench +[0-9.]+s\] ")


def say(message: str) -> None:
    """A progress line, stamped with the seconds since the run started."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


@dataclass(frozen=True)
class Options:
    """Command-line options; the defaults are what the targets are defined against."""

    notifier: NotifierOptions
    sink_store: str
    warmup: int
    skip: frozenset[str]
    deadline_cases: int
    seed: int


def _skip_list(text: str) -> frozenset[str]:
    names = frozenset(word.strip() for word in text.split(",") if word.strip())
    unknown = names - set(PHASES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(sorted(unknown))}; choose among {', '.join(PHASES)}"
        )
    return names


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Read the options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.notifier",
        description="Notifier benchmark: mails/s end to end against a bare aiosmtplib loop,"
        " and GTR deadlines/s against businesstimedelta.",
    )
    parser.add_argument("--mails", type=int, default=2000, help="verdicts, hence mails")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MAILS} mails: a fast check")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=20,
        help="sends in flight: VIGIE_NOTIFIER_SEND_CONCURRENCY and the floor's semaphore",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="VIGIE_NOTIFIER_SEND_POLL_INTERVAL_S (default: the service's own, 1 s)",
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="VIGIE_LOG_LEVEL of the notifier (default: the service's own, INFO, as JSON)",
    )
    parser.add_argument(
        "--sink-store",
        choices=("files", "count"),
        default="files",
        help="files: the sink writes every .eml as it always does; count: it only counts",
    )
    parser.add_argument("--database", default="vigie_bench_notifier", help="database to recreate")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the N-th mail"
    )
    parser.add_argument(
        "--warmup", type=int, default=50, help="floor mails sent before anything is timed"
    )
    parser.add_argument(
        "--skip", type=_skip_list, default=frozenset(), help="comma list: " + ",".join(PHASES)
    )
    parser.add_argument("--deadline-cases", type=int, default=20_000, help="phase (b)'s cases")
    parser.add_argument("--seed", type=int, default=20250530, help="phase (b)'s seed")
    args = parser.parse_args(argv)
    if args.quick:
        args.mails = min(args.mails, QUICK_MAILS)
    if args.mails < 1 or args.concurrency < 1 or args.poll_interval <= 0:
        parser.error("--mails and --concurrency must be at least 1, --poll-interval above 0")
    return Options(
        notifier=NotifierOptions(
            mails=args.mails,
            concurrency=args.concurrency,
            poll_interval_s=args.poll_interval,
            log_level=args.log_level,
            database=args.database,
            timeout_s=args.timeout,
        ),
        sink_store=args.sink_store,
        warmup=max(args.warmup, 0),
        skip=args.skip,
        deadline_cases=args.deadline_cases,
        seed=args.seed,
    )


async def measure_floor(
    opts: Options,
    sink: SinkProcess,
    rendered: list[Any],
    messages: list[Any],
    rows: Rows | None,
    figures: dict[str, Any],
) -> None:
    """The bare aiosmtplib loop on the same sink and the same mails."""
    count, concurrency = len(messages), opts.notifier.concurrency
    busy = await busy_cores()
    figures["floor_machine_busy_cores_before"] = busy
    say(busy_note("floor", busy))
    say(f"floor: aiosmtplib.send of {count:,} mails, {concurrency} in flight")
    meter = CpuMeter({"sink": sink.pid})
    meter.start()
    wall, failures = await floor.send_all(messages, port=sink.port, concurrency=concurrency)
    cpu = meter.stop("floor")
    figures.update(cpu)
    figures.update(per_mail(cpu, count, "floor", ("harness", "sink")))
    received = await sink.report()
    sent = count - len(failures)
    figures.update(
        floor_sent=sent,
        floor_failures=len(failures),
        floor_failure_examples=[repr(f) for f in failures[:3]],
        floor_wall_s=wall,
        floor_mails_per_s=sent / wall if not failures else None,
        floor_sink_received=len(received),
        floor_mail_bytes=sum(r.size for r in received) / len(received) if received else None,
    )
    say(f"floor: {sent:,} mails in {wall:.2f} s ({sent / wall:,.0f}/s), {len(failures)} failed")
    if rows is not None:
        figures.update(floor.compare(rendered, rows))
    if failures:
        raise ProcessError(f"the floor failed {len(failures)} sends: {failures[0]!r}")


async def measure_deadlines(opts: Options, workdir: Path, figures: dict[str, Any]) -> None:
    """``python -m bench.notifier.deadlines`` in a fresh process; its JSON under ``deadlines_``."""
    busy = await busy_cores()
    figures["deadlines_machine_busy_cores_before"] = busy
    say(busy_note("deadlines", busy))
    argv = [
        sys.executable,
        "-m",
        "bench.notifier.deadlines",
        "--cases",
        str(opts.deadline_cases),
        "--seed",
        str(opts.seed),
    ]
    log_path = workdir / "deadlines.log"
    say(f"deadlines: {' '.join(argv[1:])}")
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=log, start_new_session=True
        )
        assert process.stdout is not None
        last = ""
        try:
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                if _STAMP.match(line):
                    say(f"deadlines: {_STAMP.sub('', line)}")
                if line:
                    last = line
            code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    if code != 0 or not last.startswith("{"):
        raise ProcessError(f"bench.notifier.deadlines exited with code {code}; log {log_path}")
    for key, value in json.loads(last).items():
        figures[report.DEADLINES_PREFIX + key] = value


async def bench(opts: Options) -> tuple[dict[str, Any], int]:
    """Run every phase; return the figures and the exit code (1 if a phase failed)."""
    n = opts.notifier
    figures: dict[str, Any] = {
        "mails": n.mails,
        "concurrency": n.concurrency,
        "poll_interval_s": n.poll_interval_s,
        "log_level": n.log_level,
        "database": "PostgreSQL",
        "sink_store": opts.sink_store,
        "cpus": os.cpu_count(),
    }
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-notifier-"))
    say(f"logs in {workdir}")
    errors: list[str] = []

    def failed(phase: str, exc: BaseException) -> None:
        text = str(exc).splitlines()[0] if str(exc) else repr(exc)
        errors.append(f"{phase}: {text}")
        say(f"{phase}: FAILED {exc!r}" if not str(exc) else f"{phase}: FAILED {exc}")

    wants_mail = not {"notifier", "floor"} <= opts.skip
    try:
        if wants_mail:
            say(f"rendering the {n.mails:,} CLT5 mails of the floor (not timed)")
            rendered, messages, render_s = floor.render_all(n.mails)
            figures["render_s"] = render_s
            say(f"sink: starting (stores {opts.sink_store})")
            sink = SinkProcess(
                workdir / "mail", store=opts.sink_store, log_path=workdir / "sink.log"
            )
            async with sink:
                say(f"sink: listening on 127.0.0.1:{sink.port}, pid {sink.pid}")
                if opts.warmup:
                    wall = await floor.warm_up(sink, messages[: opts.warmup], n.concurrency)
                    shown = min(opts.warmup, n.mails)
                    say(f"warm-up: {shown} mails through the sink in {wall:.2f} s (not timed)")
                rows: Rows | None = None
                if "notifier" not in opts.skip:
                    try:
                        found, rows = await run_notifier(n, sink, workdir, say)
                        figures.update(found)
                        if found.get("notifier_error"):
                            errors.append(f"notifier: {found['notifier_error']}")
                    except (ProcessError, OSError, RuntimeError) as exc:
                        failed("notifier", exc)
                if "floor" not in opts.skip:
                    try:
                        await measure_floor(opts, sink, rendered, messages, rows, figures)
                    except (ProcessError, OSError, RuntimeError) as exc:
                        failed("floor", exc)
        if "deadlines" not in opts.skip:
            try:
                await measure_deadlines(opts, workdir, figures)
            except (ProcessError, OSError, ValueError) as exc:
                failed("deadlines", exc)
    except Exception as exc:  # noqa: BLE001 - any failure still ends with the JSON line
        failed("bench", exc)
    ours, floor_rate = figures.get("notifier_mails_per_s"), figures.get("floor_mails_per_s")
    figures["ratio_vs_floor"] = ours / floor_rate if ours and floor_rate else None
    figures["targets"] = report.verdicts(figures)
    if errors:
        figures["error"] = "; ".join(errors)
    figures["logs"] = str(workdir)
    figures["wall_s"] = time.monotonic() - _STARTED
    return figures, 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run, print the report, and print the JSON figures as the last line."""
    opts = parse_args(argv)
    from vigie_common.logs import configure_logging

    configure_logging(service="bench", level="WARNING", fmt="console")

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
