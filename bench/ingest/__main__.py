"""Ingest throughput benchmark: ``uv run python -m bench.ingest``.

One run measures, back to back and with the same server settings and load:

1. a bare FastAPI endpoint (``bench.ingest.bare``), the ceiling of one uvicorn worker;
2. ingest on PostgreSQL with the embedded Kafka broker, while a consumer times every event
   from acceptance to its arrival on ``vigie.tickets.v1``.

wrk runs in its own process so the load generator is never the bottleneck. Progress and
figures are printed as it goes; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.ingest import report
from bench.ingest.database import async_url, recreate_database
from bench.ingest.latency import EventTimer, relay_figures
from bench.ingest.load import LoadError, WrkResult, run_wrk, wrk_binary
from bench.ingest.processes import (
    HOST,
    ProcessError,
    Server,
    busy_cores,
    cpu_seconds,
    free_port,
    run_to_completion,
)
from bench.ingest.webhooks import PATH, SOURCE, write_requests_file

ROOT = Path(__file__).resolve().parents[2]
TICKETS_TOPIC = "vigie.tickets.v1"
_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line, stamped with the seconds since the run started."""
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


@dataclass(frozen=True)
class Options:
    """Command-line options; the defaults are the benchmark's contract."""

    duration_s: int
    concurrency: int
    threads: int
    requests: int
    sut: str
    skip_bare: bool
    database: str
    drain_timeout_s: float
    keep_files: bool


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Read the options; the defaults are what the targets are defined against."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description="Ingest throughput benchmark (wrk against bare FastAPI and ingest).",
    )
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per target")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--requests", type=int, default=100_000, help="distinct pre-signed webhooks per target"
    )
    parser.add_argument(
        "--sut",
        choices=("ingest", "stub", "none"),
        default="ingest",
        help="system under test: vigie-ingest, the harness's own stub, or none (bare only)",
    )
    parser.add_argument("--skip-bare", action="store_true", help="do not measure the baseline")
    parser.add_argument("--database", default="vigie_bench", help="database to (re)create")
    parser.add_argument(
        "--drain-timeout", type=float, default=60.0, help="max seconds to wait for the outbox"
    )
    parser.add_argument("--keep-files", action="store_true", help="keep the signed requests files")
    args = parser.parse_args(argv)
    if args.concurrency < args.threads:
        parser.error("--concurrency must be at least --threads (wrk gives each thread a share)")
    return Options(
        duration_s=args.duration,
        concurrency=args.concurrency,
        threads=args.threads,
        requests=args.requests,
        sut=args.sut,
        skip_bare=args.skip_bare,
        database=args.database,
        drain_timeout_s=args.drain_timeout,
        keep_files=args.keep_files,
    )


def sut_command(sut: str) -> list[str]:
    """The command line of the system under test (``migrate``/``serve`` are appended)."""
    if sut == "stub":
        return [sys.executable, "-m", "bench.ingest.stub"]
    beside_python = Path(sys.executable).parent / "vigie-ingest"
    found = str(beside_python) if beside_python.is_file() else shutil.which("vigie-ingest")
    if found is None:
        raise ProcessError("vigie-ingest is not installed: run `uv sync` in the workspace")
    return [found]


def sut_env(*, database: str, bootstrap_servers: str, port: int, secret: str) -> dict[str, str]:
    """Ingest's environment: only the variables below, whatever the caller's shell has set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(
        VIGIE_DATABASE_URL=async_url(database),
        VIGIE_KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers,
        VIGIE_KAFKA_IDEMPOTENCE="false",
        VIGIE_INGEST_HOST=HOST,
        VIGIE_INGEST_PORT=str(port),
        VIGIE_INGEST_WEBHOOK_SECRETS=f"{SOURCE}={secret}",
        VIGIE_LOG_LEVEL="WARNING",
    )
    return env


async def load(
    opts: Options, workdir: Path, server: Server, secret: str, figures: dict[str, Any]
) -> WrkResult:
    """Sign fresh requests (the receiver allows five minutes of skew) and run wrk.

    Also records how many cores the server used meanwhile, as ``<name>_cpu_cores``.
    """
    name, base_url = server.name, server.base_url
    requests_file = workdir / f"requests-{name}.txt"
    say(f"{name}: signing {opts.requests:,} distinct webhooks")
    write_requests_file(requests_file, opts.requests, secret)
    say(
        f"{name}: wrk -t{opts.threads} -c{opts.concurrency} -d{opts.duration_s}s"
        f" POST {base_url}{PATH}"
    )
    busy = await busy_cores()
    figures[f"{'bare' if name == 'bare' else 'sut'}_machine_busy_cores_before"] = busy
    if busy is not None and busy > 0.25:
        say(
            f"{name}: WARNING other work keeps {busy:.2f} of {os.cpu_count()} CPUs busy;"
            " figures will be lower than on a quiet machine"
        )
    cpu_before = cpu_seconds(server.pid)
    try:
        result = await run_wrk(
            base_url + PATH,
            requests_file,
            duration_s=opts.duration_s,
            concurrency=opts.concurrency,
            threads=opts.threads,
        )
    finally:
        if not opts.keep_files:
            requests_file.unlink(missing_ok=True)
    cpu_after = cpu_seconds(server.pid)
    cores = None
    if cpu_before is not None and cpu_after is not None and result.duration_s:
        cores = (cpu_after - cpu_before) / result.duration_s
    figures[f"{'bare' if name == 'bare' else 'sut'}_cpu_cores"] = cores
    say(
        f"{name}: {result.requests_per_s:,.0f} req/s, {result.accepted_per_s:,.0f} accepted/s,"
        f" p50 {result.latency_ms['p50']:.2f} ms, p99 {result.latency_ms['p99']:.2f} ms,"
        f" statuses {dict(sorted(result.statuses.items()))},"
        f" socket errors {result.socket_errors}"
        + (f", server CPU {cores:.2f} cores" if cores is not None else "")
    )
    if result.wraps and name == "bare":
        say(f"bare: cycled through the {opts.requests:,} requests again (harmless here)")
    elif result.wraps:
        say(
            f"{name}: WARNING the {opts.requests:,} requests ran out and were sent again"
            " (duplicates); raise --requests"
        )
    return result


async def measure_bare(opts: Options, workdir: Path, figures: dict[str, Any]) -> None:
    """The baseline: the bare endpoint in its own process, same server settings."""
    port = free_port()
    server = Server(
        "bare",
        [sys.executable, "-m", "bench.ingest.bare", "--port", str(port)],
        port=port,
        log_path=workdir / "bare.log",
        cwd=ROOT,
    )
    say(f"bare: starting on {server.base_url}")
    async with server:
        result = await load(opts, workdir, server, secrets.token_hex(16), figures)
    figures.update(
        bare_requests_per_s=result.requests_per_s,
        bare_p50_ms=result.latency_ms["p50"],
        bare_p90_ms=result.latency_ms["p90"],
        bare_p99_ms=result.latency_ms["p99"],
        bare_non_2xx=result.non_2xx,
        bare_socket_errors=result.socket_error_count,
    )


async def metrics_text(client: httpx.AsyncClient, base_url: str) -> str | None:
    """``/metrics`` of the system under test, or None if it does not answer."""
    try:
        response = await client.get(base_url + "/metrics")
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


async def drain(
    timer: EventTimer, client: httpx.AsyncClient, base_url: str, accepted: int, timeout_s: float
) -> tuple[float, float | None]:
    """Wait until the outbox backlog is 0 and every accepted event reached the consumer.

    Returns the seconds it took and the last backlog seen; gives up after ``timeout_s``.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    backlog: float | None = None
    next_report = started + 5
    while True:
        text = await metrics_text(client, base_url)
        backlog = relay_figures(text).backlog if text else None
        drained = (backlog is None or backlog == 0) and timer.count >= accepted
        now = time.monotonic()
        if drained or now >= deadline:
            break
        if now >= next_report:
            say(f"ingest: draining, backlog {backlog}, {timer.count:,}/{accepted:,} events")
            next_report = now + 5
        await asyncio.sleep(0.25)
    await asyncio.sleep(0.5)  # let events of requests wrk timed out on arrive too
    return time.monotonic() - started, backlog


async def measure_sut(opts: Options, workdir: Path, figures: dict[str, Any]) -> None:
    """Ingest on PostgreSQL and the embedded broker, timed from the consumer's side."""
    from vigie_common.kafka.tansu import EmbeddedBroker

    command = sut_command(opts.sut)
    say(f"{opts.sut}: recreating database {opts.database}")
    await recreate_database(opts.database)
    say(f"{opts.sut}: starting the embedded Kafka broker (Tansu)")
    async with EmbeddedBroker(log_file=workdir / "tansu.log") as broker:
        port = free_port()
        secret = secrets.token_hex(32)
        env = sut_env(
            database=opts.database,
            bootstrap_servers=broker.bootstrap_servers,
            port=port,
            secret=secret,
        )
        log_path = workdir / f"{opts.sut}.log"
        say(f"{opts.sut}: broker on {broker.bootstrap_servers}; running migrations")
        await run_to_completion(
            [*command, "migrate"], env=env, log_path=log_path, timeout_s=120, cwd=ROOT
        )
        server = Server(
            opts.sut, [*command, "serve"], port=port, log_path=log_path, env=env, cwd=ROOT
        )
        say(f"{opts.sut}: starting on {server.base_url}")
        timer = EventTimer(broker.bootstrap_servers, TICKETS_TOPIC)
        async with server, httpx.AsyncClient(timeout=5.0) as client:
            try:
                await timer.start()
                say(f"{opts.sut}: consumer reading {TICKETS_TOPIC} from the beginning")
                result = await load(opts, workdir, server, secret, figures)
                figures.update(
                    requests_per_s=result.requests_per_s,
                    accepted_per_s=result.accepted_per_s,
                    accepted=result.accepted,
                    p50_ms=result.latency_ms["p50"],
                    p90_ms=result.latency_ms["p90"],
                    p99_ms=result.latency_ms["p99"],
                    p999_ms=result.latency_ms["p99.9"],
                    max_ms=result.latency_ms["max"],
                    non_2xx=result.non_2xx,
                    status_counts=dict(sorted(result.statuses.items())),
                    socket_errors=result.socket_error_count,
                    wraps=result.wraps,
                    unanswered=result.unanswered,
                )
                if figures.get("bare_requests_per_s"):
                    figures["ratio_vs_bare"] = (
                        result.accepted_per_s / figures["bare_requests_per_s"]
                    )
                say(f"{opts.sut}: waiting for the outbox to drain ({result.accepted:,} accepted)")
                drain_s, backlog = await drain(
                    timer, client, server.base_url, result.accepted, opts.drain_timeout_s
                )
                text = await metrics_text(client, server.base_url)
            finally:
                await timer.stop()
        consumed = timer.result()
        relay = relay_figures(text) if text else None
        figures.update(
            events_received=consumed.messages,
            events_distinct=consumed.distinct_ids,
            events_unparsable=consumed.unparsable,
            events_match=(
                result.accepted <= consumed.distinct_ids <= result.accepted + result.unanswered
            ),
            events_missing=max(0, result.accepted - consumed.distinct_ids),
            drain_s=drain_s,
            backlog_after_drain=backlog,
            outbox_to_kafka_p50_ms=consumed.delay_ms(50),
            outbox_to_kafka_p99_ms=consumed.delay_ms(99),
            outbox_to_kafka_max_ms=consumed.delay_ms(100),
            relay_published=relay.published if relay else None,
            relay_delay_p50_ms=relay.delay_p50_ms if relay else None,
            relay_delay_p99_ms=relay.delay_p99_ms if relay else None,
        )
        if relay is None:
            say(f"{opts.sut}: WARNING /metrics did not answer; no relay figures")


async def bench(opts: Options) -> tuple[dict[str, Any], int]:
    """Run every phase; return the figures and the exit code (1 if a phase failed)."""
    figures: dict[str, Any] = {
        "duration_s": opts.duration_s,
        "concurrency": opts.concurrency,
        "threads": opts.threads,
        "sut": opts.sut,
    }
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-ingest-"))
    say(f"logs in {workdir}")
    code = 0
    try:
        wrk_binary()
        if not opts.skip_bare:
            await measure_bare(opts, workdir, figures)
        if opts.sut != "none":
            await measure_sut(opts, workdir, figures)
    except (LoadError, ProcessError, OSError, RuntimeError) as exc:
        figures["error"] = str(exc).splitlines()[0] if str(exc) else repr(exc)
        say(f"FAILED: {exc}")
        code = 1
    except Exception as exc:  # noqa: BLE001 - any failure still ends with the JSON line
        figures["error"] = repr(exc)
        say(f"FAILED: {exc!r}")
        code = 1
    figures["logs"] = str(workdir)
    return figures, code


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
