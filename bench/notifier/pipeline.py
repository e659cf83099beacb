"""Phase (a), end to end: verdict events on Kafka in, mails accepted by the sink, sends recorded.

``vigie-notifier migrate`` then ``vigie-notifier run`` in a process of their own, on a fresh
PostgreSQL database and the embedded broker (Tansu), sending to the sink process:

1. the N ticket events are published and the bench waits until the notifier has stored every
   ticket and its relay has published what they caused (the GTR outcomes): a verdict must
   never arrive before its ticket (the notifier would retry it after a backoff);
2. the machine's busy cores are read over 1 s while the bench's processes are idle;
3. the clock starts as the first verdict is handed to the producer; the N verdicts are
   published at once (each stamped with the moment it is handed over);
4. the clock stops at the N-th ``notification`` row recorded ``sent``: the database is polled
   every 100 ms to see it, and the end is the largest ``sent_at`` (stamped by the sender just
   before its record transaction).

Then the sink's records give each mail's latency (verdict event time → 250 from the sink),
the rows give the stages (verdict published → decision and render stored → sent), the
notifier's ``/metrics`` its own SMTP time per send, ``pg_stat_database`` the transactions and
connections, and :class:`~bench.notifier.cpu.CpuMeter` each process's CPU.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import psycopg
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from vigie_common.events.envelope import CloudEvent, encode
from vigie_common.events.topics import TICKETS, VERDICTS

from bench.ingest.database import async_url, recreate_database
from bench.ingest.latency import percentile
from bench.ingest.processes import (
    HOST,
    ProcessError,
    Server,
    busy_cores,
    free_port,
    run_to_completion,
)
from bench.notifier import fixtures
from bench.notifier.cpu import CpuMeter, busy_note, per_mail
from bench.notifier.sink import Received, SinkProcess

ROOT: Final = Path(__file__).resolve().parents[2]
HEADERS: Final = [("content-type", b"application/cloudevents+json")]
POLL_S: Final = 0.1
STATS_SETTLE_S: Final = 2.0
OWN_QUERIES: Final = 6
"""The bench's queries between the two readings of the statistics, besides its polls."""
PREPARE_TIMEOUT_S: Final = 600.0


@dataclass(frozen=True)
class NotifierOptions:
    """How the notifier runs: the bench's choices, all in its environment."""

    mails: int
    concurrency: int
    poll_interval_s: float
    log_level: str
    database: str
    timeout_s: float


@dataclass
class Rows:
    """What the notifier stored, read back after the clock stopped."""

    by_message_id: dict[str, tuple[str | None, str, str | None]] = field(default_factory=dict)
    thread_ids: dict[str, str] = field(default_factory=dict)


def notifier_command() -> list[str]:
    """``vigie-notifier`` of this environment."""
    beside_python = Path(sys.executable).parent / "vigie-notifier"
    found = str(beside_python) if beside_python.is_file() else shutil.which("vigie-notifier")
    if found is None:
        raise ProcessError("vigie-notifier is not installed: run `uv sync --all-packages`")
    return [found]


def notifier_env(
    opts: NotifierOptions, *, bootstrap: str, port: int, smtp_port: int, contacts: Path
) -> dict[str, str]:
    """The notifier's environment: only these ``VIGIE_*`` variables, whatever the shell has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(
        VIGIE_ENV="test",
        VIGIE_DATABASE_URL=async_url(opts.database),
        VIGIE_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        VIGIE_KAFKA_IDEMPOTENCE="false",
        VIGIE_LOG_LEVEL=opts.log_level,
        VIGIE_NOTIFIER_HOST=HOST,
        VIGIE_NOTIFIER_PORT=str(port),
        VIGIE_NOTIFIER_OPERATOR=fixtures.OPERATOR,
        VIGIE_NOTIFIER_MESSAGE_DOMAIN=fixtures.MESSAGE_DOMAIN,
        VIGIE_NOTIFIER_DEFAULT_TIMEZONE=fixtures.ZONE,
        VIGIE_NOTIFIER_SMTP__HOST=HOST,
        VIGIE_NOTIFIER_SMTP__PORT=str(smtp_port),
        VIGIE_NOTIFIER_SMTP__SECURITY="none",
        VIGIE_NOTIFIER_SMTP__FROM_ADDRESS=fixtures.FROM_ADDRESS,
        VIGIE_NOTIFIER_SMTP__FROM_NAME=fixtures.FROM_NAME,
        VIGIE_NOTIFIER_CONTACTS_FILE=str(contacts),
        VIGIE_NOTIFIER_SEND_CONCURRENCY=str(opts.concurrency),
        VIGIE_NOTIFIER_SEND_POLL_INTERVAL_S=str(opts.poll_interval_s),
    )
    return env


def _dsn(database: str) -> str:
    return f"host=127.0.0.1 port=5432 user=postgres dbname={database} connect_timeout=10"


async def _publish(
    producer: AIOKafkaProducer, topic: str, events: Iterable[CloudEvent[Any]]
) -> int:
    """Hand every event to the producer at once, then wait for every acknowledgement."""
    pending = [
        await producer.send(topic, value=encode(e), key=e.subject.encode(), headers=HEADERS)
        for e in events
    ]
    await asyncio.gather(*pending)
    return len(pending)


async def _scalar(conn: psycopg.AsyncConnection[Any], query: str) -> Any:
    cursor = await conn.execute(query)
    row = await cursor.fetchone()
    return row[0] if row else None


async def _wait_tickets(
    conn: psycopg.AsyncConnection[Any], notifier: Server, count: int, say: Any
) -> float:
    """Until every ticket is stored and the outbox is empty; the seconds it took."""
    began = time.monotonic()
    next_note = began + 10
    while True:
        tickets = await _scalar(conn, "SELECT count(*) FROM ticket")
        backlog = await _scalar(
            conn, "SELECT count(*) FROM outbox_event WHERE sent_at IS NULL AND dead_at IS NULL"
        )
        if tickets >= count and backlog == 0:
            return time.monotonic() - began
        now = time.monotonic()
        if now - began > PREPARE_TIMEOUT_S:
            raise ProcessError(
                f"the notifier stored {tickets:,} of {count:,} tickets in"
                f" {PREPARE_TIMEOUT_S:g} s (outbox backlog {backlog}); log {notifier.log_path}"
            )
        if now >= next_note:
            say(f"notifier: {tickets:,}/{count:,} tickets stored, outbox backlog {backlog}")
            next_note = now + 10
        await asyncio.sleep(0.25)


async def _wait_sent(
    conn: psycopg.AsyncConnection[Any], notifier: Server, count: int, timeout_s: float
) -> tuple[int, float]:
    """Poll until ``count`` rows are ``sent`` (or ``timeout_s``); (sent, polls made)."""
    began = time.monotonic()
    sent = polls = 0
    while time.monotonic() - began < timeout_s:
        sent = await _scalar(conn, "SELECT count(*) FROM notification WHERE state = 'sent'")
        polls += 1
        if sent >= count:
            break
        process = notifier._process  # a dead notifier ends the wait at once
        if process is not None and process.returncode is not None:
            raise ProcessError(
                f"the notifier exited with code {process.returncode}; log {notifier.log_path}"
            )
        await asyncio.sleep(POLL_S)
    return sent, polls


async def _db_counters(conn: psycopg.AsyncConnection[Any], database: str) -> tuple[int, int]:
    """PostgreSQL's count of sessions opened on ``database``, and of its transactions.

    The statistics are flushed by each backend when it goes idle (at most once a second) or
    exits, so a reading taken a couple of seconds after the work is close, not exact.
    """
    cursor = await conn.execute(
        "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
        (database,),
    )
    row = await cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _metrics(text: str) -> dict[str, Any]:
    """The notifier's own view: SMTP time per send, messages consumed by outcome."""
    out: dict[str, Any] = {}
    consumed: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "vigie_notifier_send_duration_seconds_sum"
                and labels.get("channel") == "mail"
            ):
                out["duration_sum"] = sample.value
            elif (
                sample.name == "vigie_notifier_send_duration_seconds_count"
                and labels.get("channel") == "mail"
            ):
                out["duration_count"] = sample.value
            elif sample.name == "vigie_notifier_consumer_messages_total":
                key = f"{labels.get('topic')}:{labels.get('outcome')}"
                consumed[key] = consumed.get(key, 0) + sample.value
            elif (
                sample.name == "vigie_notifier_send_retries_total"
                and labels.get("channel") == "mail"
            ):
                out["retries"] = sample.value
    if out.get("duration_count"):
        out["smtp_mean_ms"] = out["duration_sum"] / out["duration_count"] * 1000
    out["consumed"] = {k: int(v) for k, v in sorted(consumed.items())}
    return out


async def _stages(
    conn: psycopg.AsyncConnection[Any], started: float, publish_at: Mapping[str, float]
) -> dict[str, Any]:
    """Per stage, from the rows: verdict → stored (decided, rendered), stored → sent."""
    cursor = await conn.execute(
        "SELECT message_id, created_at, sent_at FROM notification WHERE state = 'sent'"
    )
    decided: list[float] = []
    sending: list[float] = []
    last_stored = 0.0
    for message_id, created_at, sent_at in await cursor.fetchall():
        created, sent = _epoch(created_at), _epoch(sent_at)
        last_stored = max(last_stored, created)
        if message_id in publish_at:
            decided.append((created - publish_at[message_id]) * 1000)
        sending.append((sent - created) * 1000)
    stored_s = last_stored - started if decided else None
    return {
        "stored_all_s": stored_s,
        "stored_per_s": len(decided) / stored_s if stored_s else None,
        "verdict_to_stored_p50_ms": percentile(decided, 50),
        "verdict_to_stored_p99_ms": percentile(decided, 99),
        "stored_to_sent_p50_ms": percentile(sending, 50),
        "stored_to_sent_p99_ms": percentile(sending, 99),
    }


async def _rows(conn: psycopg.AsyncConnection[Any]) -> Rows:
    rows = Rows()
    cursor = await conn.execute("SELECT message_id, subject, text, html FROM notification")
    for message_id, subject, text, html in await cursor.fetchall():
        rows.by_message_id[message_id] = (subject, text, html)
    cursor = await conn.execute("SELECT id, thread_id FROM ticket")
    rows.thread_ids = dict(await cursor.fetchall())
    return rows


def latencies(
    received: list[Received], publish_at: Mapping[str, float]
) -> tuple[list[float], int, int]:
    """Verdict event time → 250 from the sink, per expected mail (ms); unknown, repeated."""
    seen: set[str] = set()
    delays: list[float] = []
    unknown = repeated = 0
    for mail in received:
        at = publish_at.get(mail.message_id)
        if at is None:
            unknown += 1
        elif mail.message_id in seen:
            repeated += 1
        else:
            seen.add(mail.message_id)
            delays.append((mail.at - at) * 1000)
    return delays, unknown, repeated


async def run_notifier(
    opts: NotifierOptions, sink: SinkProcess, workdir: Path, say: Any
) -> tuple[dict[str, Any], Rows]:
    """Phase (a): the figures ``notifier_*`` and the rows the notifier stored.

    Mails still unsent when ``opts.timeout_s`` ran out are not an exception: the figures
    say so in ``notifier_error`` (the caller makes it the run's error).
    """
    from vigie_common.kafka.tansu import EmbeddedBroker

    figures: dict[str, Any] = {}
    command = notifier_command()
    say(f"notifier: recreating PostgreSQL database {opts.database} on 127.0.0.1:5432")
    await recreate_database(opts.database)
    contacts = workdir / "contacts.yaml"
    contacts.write_text(fixtures.CONTACTS_YAML, encoding="utf-8")
    say("notifier: starting the embedded Kafka broker (Tansu)")
    async with EmbeddedBroker(log_file=workdir / "tansu.log") as broker:
        port = free_port()
        env = notifier_env(
            opts,
            bootstrap=broker.bootstrap_servers,
            port=port,
            smtp_port=sink.port,
            contacts=contacts,
        )
        log_path = workdir / "notifier.log"
        say(f"notifier: broker on {broker.bootstrap_servers}; vigie-notifier migrate")
        await run_to_completion(
            [*command, "migrate"], env=env, log_path=log_path, timeout_s=120, cwd=ROOT
        )
        notifier = Server(
            "notifier",
            [*command, "run"],
            port=port,
            log_path=log_path,
            env=env,
            cwd=ROOT,
            ready_timeout_s=90,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap_servers,
            request_timeout_ms=30_000,
            enable_idempotence=False,
        )
        say(f"notifier: vigie-notifier run on {notifier.base_url} (contacts {contacts.name})")
        async with (
            notifier,
            await psycopg.AsyncConnection.connect(_dsn(opts.database), autocommit=True) as conn,
        ):
            await producer.start()
            try:
                say(
                    f"notifier: ready, pid {notifier.pid};"
                    f" publishing {opts.mails:,} ticket events (not timed)"
                )
                await _publish(
                    producer, TICKETS, (fixtures.ticket_event(i) for i in range(opts.mails))
                )
                waited = await _wait_tickets(conn, notifier, opts.mails, say)
                say(f"notifier: every ticket stored {waited:.1f} s after publishing")
                verdicts = [fixtures.verdict(i) for i in range(opts.mails)]
                message_ids = [fixtures.message_id(i) for i in range(opts.mails)]
                await sink.report()  # forget anything before the window
                busy = await busy_cores()
                figures["notifier_machine_busy_cores_before"] = busy
                say(busy_note("notifier", busy))
                meter = CpuMeter({"notifier": notifier.pid, "sink": sink.pid, "broker": broker.pid})
                meter.start()
                db_before = await _db_counters(conn, opts.database)
                publish_at: dict[str, float] = {}

                def stamped() -> Iterable[CloudEvent[Any]]:
                    for i, value in enumerate(verdicts):
                        now = datetime.now(UTC)
                        publish_at[message_ids[i]] = now.timestamp()
                        yield fixtures.verdict_event(i, value, now)

                started = time.time()
                say(f"notifier: clock started; publishing {opts.mails:,} verdict events")
                await _publish(producer, VERDICTS, stamped())
                published_s = time.time() - started
                say(f"notifier: {opts.mails:,} verdicts published in {published_s:.2f} s")
                sent, polls = await _wait_sent(conn, notifier, opts.mails, opts.timeout_s)
                polled_s = time.time() - started
                last_sent = await _scalar(
                    conn, "SELECT max(sent_at) FROM notification WHERE state = 'sent'"
                )
                wall = _epoch(last_sent) - started if last_sent is not None else polled_s
                cpu = meter.stop("notifier")
                figures.update(cpu)
                names = ("notifier", "sink", "postgres", "broker")
                figures.update(per_mail(cpu, opts.mails, "notifier", names))
                states: dict[str, int] = dict(
                    await (
                        await conn.execute("SELECT state, count(*) FROM notification GROUP BY 1")
                    ).fetchall()
                )
                figures.update(
                    notifier_sent=sent,
                    notifier_states=states,
                    notifier_wall_s=wall,
                    notifier_wall_polled_s=polled_s,
                    notifier_publish_s=published_s,
                    notifier_tickets_stored_s=waited,
                )
                if sent >= opts.mails:
                    figures["notifier_mails_per_s"] = opts.mails / wall
                    say(
                        f"notifier: {sent:,} mails sent in {wall:.2f} s"
                        f" ({opts.mails / wall:,.0f}/s; seen by polling after {polled_s:.2f} s)"
                    )
                else:
                    figures["notifier_error"] = (
                        f"only {sent:,} of {opts.mails:,} sent within {opts.timeout_s:g} s"
                    )
                    say(f"notifier: FAILED {figures['notifier_error']}")
                received = await sink.report()
                delays, unknown, repeated = latencies(received, publish_at)
                figures.update(
                    notifier_sink_received=len(received),
                    notifier_sink_unknown=unknown,
                    notifier_sink_repeated=repeated,
                    notifier_latency_p50_ms=percentile(delays, 50),
                    notifier_latency_p99_ms=percentile(delays, 99),
                    notifier_latency_max_ms=percentile(delays, 100),
                    notifier_mail_bytes=(
                        sum(r.size for r in received) / len(received) if received else None
                    ),
                )
                stages = await _stages(conn, started, publish_at)
                figures.update({f"notifier_{k}": v for k, v in stages.items()})
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(notifier.base_url + "/metrics")
                metrics = _metrics(response.text) if response.status_code == 200 else {}
                figures["notifier_smtp_mean_ms"] = metrics.get("smtp_mean_ms")
                figures["notifier_send_retries"] = metrics.get("retries")
                figures["notifier_consumed"] = metrics.get("consumed")
                rows = await _rows(conn)
                await asyncio.sleep(STATS_SETTLE_S)
                db_after = await _db_counters(conn, opts.database)
                figures["notifier_db_sessions_opened"] = db_after[0] - db_before[0]
                ours = polls + OWN_QUERIES  # autocommit: each of the bench's queries is one
                xacts = db_after[1] - db_before[1] - ours
                figures["notifier_db_xacts_per_mail"] = xacts / opts.mails
            finally:
                await producer.stop()
    return figures, rows
