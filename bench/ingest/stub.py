"""A stand-in for ``vigie-ingest`` so the harness can be checked end to end without it.

Same command line (``migrate``, ``serve``), same environment variables, same endpoint,
signature check, ``/readyz``, ``/metrics`` names and CloudEvents on ``vigie.tickets.v1``, but
no database: accepted tickets wait in memory and a relay task publishes them. Its figures say
nothing about ingest; they only prove the benchmark measures what it claims to.

``uv run python -m bench.ingest --sut stub`` runs the benchmark against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

from bench.ingest.webhooks import PATH, SOURCE

TOPIC = "vigie.tickets.v1"
TOLERANCE_S = 300


def _secrets() -> dict[str, str]:
    raw = os.environ.get("VIGIE_INGEST_WEBHOOK_SECRETS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): secret.strip() for name, secret in pairs}


def _valid_signature(header: str, body: bytes, secret: str) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


def create_app() -> FastAPI:
    """The stub app: accept, queue, publish; metrics named like ingest's."""
    registry = CollectorRegistry()
    delay = Histogram(
        "vigie_ingest_outbox_publish_delay_seconds",
        "Event accepted to Kafka ack",
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        registry=registry,
    )
    backlog = Gauge("vigie_ingest_outbox_backlog", "Events not yet published", registry=registry)
    queue: asyncio.Queue[tuple[float, bytes, bytes]] = asyncio.Queue()
    secret = _secrets().get(SOURCE, "")

    async def relay(producer: AIOKafkaProducer) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 500:
                batch.append(queue.get_nowait())
            futures = [await producer.send(TOPIC, value=v, key=k) for _, k, v in batch]
            await asyncio.gather(*futures)
            now = time.monotonic()
            for created, _, _ in batch:
                delay.observe(now - created)
            backlog.set(queue.qsize())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(
            bootstrap_servers=os.environ["VIGIE_KAFKA_BOOTSTRAP_SERVERS"],
            acks="all",
            enable_idempotence=False,
            linger_ms=5,
        )
        await producer.start()
        task = asyncio.create_task(relay(producer))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await producer.stop()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.post(PATH)
    async def receive(request: Request) -> Response:
        body = await request.body()
        if not _valid_signature(request.headers.get("x-vigie-signature", ""), body, secret):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            ticket: dict[str, Any] = json.loads(body)
            numero = str(ticket["numero"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "invalid ticket"}, status_code=422)
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/vigie/bench-stub",
            "type": "vigie.ticket.received.v1",
            "time": datetime.now(UTC).isoformat(),
            "subject": f"oceane:{numero}",
            "datacontenttype": "application/json",
            "data": ticket,
        }
        queue.put_nowait((time.monotonic(), numero.encode(), json.dumps(event).encode()))
        backlog.set(queue.qsize())
        return JSONResponse({"status": "accepted", "event_id": event["id"]}, status_code=202)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return app


def main() -> None:
    """``migrate`` (nothing to do) or ``serve`` (the default), like ``vigie-ingest``."""
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        return
    if command != "serve":
        raise SystemExit(f"usage: python -m bench.ingest.stub [migrate|serve], not {command!r}")
    uvicorn.run(
        create_app(),
        host=os.environ.get("VIGIE_INGEST_HOST", "127.0.0.1"),
        port=int(os.environ["VIGIE_INGEST_PORT"]),
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
