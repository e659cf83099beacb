"""The webhook pipeline: size → authentication → media type → JSON → schema → mapping → store.

Checks run cheapest first. Nothing is stored before authentication (an anonymous body is not
kept); every refusal after it is kept in ``rejected_webhook`` with the reason.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pydantic_core
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from vigie_common.logs import get_logger

from vigie_ingest import service, signatures
from vigie_ingest.errors import (
    IngestError,
    InvalidJson,
    InvalidPayload,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from vigie_ingest.runtime import Runtime
from vigie_ingest.sources.base import MappedTicket, MappingError, Source

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


async def receive(request: Request, runtime: Runtime, source: Source) -> Response:
    """Answer one webhook; every outcome is counted by source and status."""
    started = time.perf_counter()
    try:
        response = await _receive(request, runtime, source)
    except IngestError as exc:
        response = problem_response(exc)
        if isinstance(exc, Unauthorized | PayloadTooLarge):  # not stored: say so in the log
            log.warning("webhook refused", source=source.name, status=exc.status, reason=exc.detail)
    runtime.metrics.webhooks.labels(source.name, str(response.status_code)).inc()
    runtime.metrics.duration.labels(source.name).observe(time.perf_counter() - started)
    return response


async def _receive(request: Request, runtime: Runtime, source: Source) -> Response:
    settings = runtime.settings
    body = await read_body(request, settings.max_body_bytes)
    authenticate(request, body, source.name, runtime)
    try:
        mapped = parse(request, body, source, runtime)
    except (InvalidJson, UnsupportedMediaType, InvalidPayload) as exc:
        await _keep_rejection(request, runtime, source.name, body, exc)
        raise
    try:
        outcome = await runtime.intake.accept(mapped)
    except Exception:  # the database is away: the sender must retry, nothing was accepted
        log.exception("could not store webhook", source=source.name)
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service unavailable",
                "status": 503,
                "detail": "the ticket could not be stored; retry later",
            },
            status_code=503,
            headers={"Retry-After": "5"},
            media_type=PROBLEM_JSON,
        )
    runtime.metrics.outcomes.labels(source.name, outcome.status).inc()
    return Response(
        pydantic_core.to_json(
            {
                "status": outcome.status,
                "ticket_id": outcome.ticket_id,
                "version": outcome.version,
                "event_id": outcome.event_id,
                "duplicate": outcome.duplicate,
                "stale": outcome.stale,
                "ticket_url": f"/v1/tickets/{outcome.ticket_id}",
            }
        ),
        status_code=202,
        media_type="application/json",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; refuse early on a declared larger length."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def authenticate(request: Request, body: bytes, source: str, runtime: Runtime) -> None:
    """Signature first, bearer token as the alternative; a source with neither is refused."""
    settings = runtime.settings
    secrets = settings.secrets_for(source)
    tokens = settings.tokens_for(source)
    signature = request.headers.get("x-vigie-signature")
    authorization = request.headers.get("authorization")
    if not secrets and not tokens:
        raise Unauthorized(f"source {source!r} has no webhook secret or token configured")
    if secrets and (signature is not None or not tokens or authorization is None):
        signatures.verify(
            body,
            signature,
            secrets,
            now=runtime.clock.now().timestamp(),
            tolerance_s=settings.signature_tolerance_s,
        )
        return
    signatures.verify_bearer(authorization, tokens)


def parse(request: Request, body: bytes, source: Source, runtime: Runtime) -> MappedTicket:
    """Media type, JSON, schema, then mapping; each failure names what to fix."""
    content_type = request.headers.get("content-type", "")
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"content type {content_type or '(none)'!r} is not accepted; send application/json"
        )
    if "charset" in params.lower() and "utf-8" not in params.lower().replace("utf8", "utf-8"):
        raise UnsupportedMediaType("only UTF-8 JSON is accepted")
    try:
        data: Any = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidJson(f"the body must be a JSON object, not {type(data).__name__}")
    if b"\\u0000" in body:
        raise InvalidPayload(
            "text fields must not contain NUL characters (\\u0000)",
            errors=[{"loc": "body", "msg": "NUL character", "type": "value_error"}],
        )
    try:
        payload = source.payload_model.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(
            f"{exc.error_count()} field(s) do not match the {source.name} contract",
            errors=validation_errors(exc),
        ) from exc
    try:
        mapped = source.to_ticket(payload, runtime.mapping)
    except ValidationError as exc:  # a mapped value broke a canonical rule (e.g. a date range)
        raise InvalidPayload(
            f"{exc.error_count()} value(s) cannot be mapped to a ticket",
            errors=validation_errors(exc),
        ) from exc
    except MappingError as exc:
        raise InvalidPayload(
            f"{'.'.join(map(str, exc.loc))}: {exc.msg}",
            errors=[{"loc": ".".join(map(str, exc.loc)), "msg": exc.msg, "type": "mapping"}],
        ) from exc
    return replace(mapped, raw=data)  # the payload exactly as received, for the record


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """One entry per field: dotted location, message, error type (no input echoed back)."""
    return [
        {
            "loc": ".".join(str(p) for p in err["loc"]) or "body",
            "msg": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


async def _keep_rejection(
    request: Request, runtime: Runtime, source: str, body: bytes, error: IngestError
) -> None:
    try:
        async with runtime.sessions() as session, session.begin():
            await service.reject(
                session,
                source=source,
                status_code=error.status,
                reason=error.detail,
                errors=error.errors,
                content_type=request.headers.get("content-type"),
                body=body,
                keep_bytes=runtime.settings.rejected_body_bytes,
                now=runtime.clock.now(),
            )
    except Exception:  # the sender still gets its 4xx; the log keeps the trace
        log.exception("could not keep rejected webhook", source=source, status=error.status)


def problem_response(error: IngestError) -> JSONResponse:
    """RFC 9457 body; 401 also says how to authenticate."""
    headers = {"WWW-Authenticate": 'Bearer realm="vigie"'} if error.status == 401 else None
    return JSONResponse(
        error.problem(), status_code=error.status, media_type=PROBLEM_JSON, headers=headers
    )
