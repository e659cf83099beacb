"""Composition root: settings → engine, producer, relay, intake → FastAPI app; and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from vigie_common import cli
from vigie_common.access import ReadDenied
from vigie_common.cli import load_settings
from vigie_common.clock import Clock, SystemClock
from vigie_common.db.backlog import BacklogGate
from vigie_common.db.engine import is_postgres, make_engine, make_sessionmaker
from vigie_common.db.outbox import OutboxRelay, RelayMetrics
from vigie_common.kafka.producer import EventProducer, producer_options
from vigie_common.logs import Throttle, configure_logging, get_logger
from vigie_common.metrics import metrics_endpoint, new_registry
from vigie_common.runtime import settle_heap

from vigie_ingest import api, webhooks
from vigie_ingest.admission import Credentials
from vigie_ingest.errors import IngestError, PayloadInvalid
from vigie_ingest.intake import TicketIntake
from vigie_ingest.models import VERSION_TABLE, OutboxEvent
from vigie_ingest.problems import problem_response, read_denied_response
from vigie_ingest.retention import keep_pruning
from vigie_ingest.runtime import IngestMetrics, Runtime
from vigie_ingest.settings import IngestSettings
from vigie_ingest.sources import default_sources
from vigie_ingest.sources.base import Source

log = get_logger(__name__)

DESCRIPTION = """\
Webhooks from upstream ticketing systems in; canonical tickets out on Kafka
(`vigie.tickets.v1`, CloudEvents 1.0), through a transactional outbox.

**Authentication** per source: `X-Vigie-Signature: t=<unix>,v1=<hex>` where `v1` is
HMAC-SHA256 of `<t>.<body>` with the source's secret (5-minute window), or
`Authorization: Bearer <token>` for sources that cannot sign.
"""


def create_app(settings: IngestSettings, *, clock: Clock | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts."""
    clock = clock or SystemClock()
    registry = new_registry()
    sources = default_sources()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        engine = make_engine(settings.database_url, echo=settings.database_echo)
        sessions = make_sessionmaker(engine)
        producer = EventProducer(producer_options(settings, client_id="vigie-ingest"))
        gate = BacklogGate(
            limit=settings.outbox_max_lag_events, max_wait=settings.outbox_max_wait_s
        )
        relay = OutboxRelay(
            sessions=sessions,
            model=OutboxEvent,
            publisher=producer,
            clock=clock,
            service="ingest",
            metrics=RelayMetrics(registry, "vigie_ingest"),
            gate=gate,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval_s,
        )
        intake = TicketIntake(
            sessions=sessions,
            clock=clock,
            on_commit=functools.partial(_committed, gate, relay),
            room=gate.room,
            max_batch=settings.batch_max_size,
            max_event_bytes=settings.max_event_bytes,
            # SQLite has one writer; two open write transactions would fail, not wait.
            max_in_flight=settings.batches_in_flight if is_postgres(engine) else 1,
        )
        runtime = Runtime(
            settings=settings,
            sessions=sessions,
            producer=producer,
            relay=relay,
            intake=intake,
            clock=clock,
            metrics=metrics,
            sources=sources,
            mapping=settings.mapping_options(),
            credentials=_credentials(settings, sources),
            refusal_log=Throttle(60.0),
        )
        intake.start()
        tasks = [
            asyncio.create_task(producer.connect(), name="kafka-connect"),
            asyncio.create_task(relay.run(), name="outbox-relay"),
            asyncio.create_task(
                keep_pruning(
                    sessions,
                    clock=clock,
                    keep=timedelta(days=settings.retention_days),
                    metrics=metrics,
                ),
                name="retention",
            ),
        ]
        if settings.env == "prod" and settings.read_token is None:
            log.warning("no read token: GET /v1/* answers 403 until VIGIE_READ_TOKEN is set")
        log.info("ingest started", sources=sorted(sources), database=settings.database_url)
        try:
            yield {"runtime": runtime}
        finally:
            await intake.close()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await relay.drain_once()  # last chance to publish what is pending
            await relay.close()
            await producer.stop()
            await engine.dispose()

    metrics = IngestMetrics(registry)
    app = FastAPI(
        title="vigie ingest",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry looks up the global providers on every request
        # (12 % of the CPU of a webhook); vigie exports Prometheus metrics instead.
        telemetry={
            "tracing": settings.opentelemetry,
            "metrics": settings.opentelemetry,
            "logs": settings.opentelemetry,
        },
    )
    webhooks.add_webhook_routes(app, sources)
    app.include_router(api.router)
    app.include_router(api.probes)
    app.add_route("/metrics", metrics_endpoint(registry), include_in_schema=False)
    _install_error_handlers(app)
    app.openapi = lambda: _openapi(app, sources)  # type: ignore[method-assign]
    return app


def _committed(gate: BacklogGate, relay: OutboxRelay, events: int) -> None:
    """After each commit: count the new events, and have the relay publish them now."""
    gate.committed(events)
    relay.wake()


def _credentials(settings: IngestSettings, sources: dict[str, Source]) -> dict[str, Credentials]:
    """Each source's secrets and tokens, read once from the settings."""
    return {
        name: Credentials(
            secrets=settings.secrets_for(name),
            tokens=settings.tokens_for(name),
            tolerance_s=settings.signature_tolerance_s,
        )
        for name in sources
    }


def _install_error_handlers(app: FastAPI) -> None:
    async def on_ingest_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IngestError)
        return problem_response(exc)

    async def on_read_denied(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ReadDenied)
        return read_denied_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        return problem_response(PayloadInvalid("the request is invalid", errors=errors))

    app.add_exception_handler(IngestError, on_ingest_error)
    app.add_exception_handler(ReadDenied, on_read_denied)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def _openapi(app: FastAPI, sources: dict[str, Source]) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for source in sources.values():
        model_schema = source.payload_model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schemas.update(model_schema.pop("$defs", {}))
        schemas[source.payload_model.__name__] = model_schema
    components["securitySchemes"] = {
        "signature": {"type": "apiKey", "in": "header", "name": "X-Vigie-Signature"},
        "bearer": {"type": "http", "scheme": "bearer"},
    }
    app.openapi_schema = schema
    return schema


def migrate(settings: IngestSettings) -> None:
    """Apply ingest's migrations to ``settings.database_url`` (blocking)."""
    cli.migrate(settings, package="vigie_ingest", version_table=VERSION_TABLE)


def run(argv: Sequence[str] | None = None) -> None:
    """``vigie-ingest [serve|migrate|openapi]``: configured by ``VIGIE_*`` variables only."""
    parser = argparse.ArgumentParser(
        prog="vigie-ingest",
        description="vigie ingest service. Configuration: VIGIE_* environment variables "
        "(see README).",
    )
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "openapi"]
    )
    args = parser.parse_args(argv)
    settings = load_settings(IngestSettings, prog="vigie-ingest")
    configure_logging(service="ingest", level=settings.log_level, fmt=settings.log_format)
    if args.command == "openapi":
        sys.stdout.write(json.dumps(create_app(settings).openapi(), indent=2) + "\n")
        return
    if args.command == "migrate" or settings.migrate_on_start:
        migrate(settings)
        log.info("migrations applied", database=settings.database_url)
        if args.command == "migrate":
            return
    _serve(settings)


def _serve(settings: IngestSettings) -> None:
    import uvicorn  # only the serve command needs the server

    # Long-lived objects (app, models, SQLAlchemy caches) leave the collector's view, and
    # young collections run less often: fewer pauses in the webhook latency tail.
    settle_heap(settings.gc_thresholds)

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_config=None,
        proxy_headers=False,  # ingest never reads the client address
    )
