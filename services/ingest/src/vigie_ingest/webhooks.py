"""The webhook edge: ``POST`` per source, size → authentication → admission → store → 202.

Checks run cheapest first. Nothing is stored before authentication (an anonymous body is not
kept); every refusal after it is kept in ``rejected_webhook`` with the reason.
"""

from __future__ import annotations

import time
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from vigie_common.logs import Throttle, get_logger

from vigie_ingest import admission, records
from vigie_ingest.errors import (
    BodyTooLarge,
    IngestError,
    NotAuthenticated,
    StorageUnavailable,
)
from vigie_ingest.problems import PROBLEM_JSON, problem_response, status_of
from vigie_ingest.runtime import Runtime
from vigie_ingest.schemas import AcceptedRead, Problem
from vigie_ingest.sources.base import Source

log = get_logger(__name__)

CANONICAL: Final = "canonical"
_REFUSALS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": Problem, "description": text_, "content": {PROBLEM_JSON: {}}}
    for status, text_ in {
        400: "The body is not a JSON object",
        401: "Missing or wrong signature or token, or a timestamp outside the replay window",
        413: "The body is over the size limit",
        415: "The content type is not application/json",
        422: "The JSON does not fit the source's contract; `errors` lists each field",
        503: "The ticket could not be stored; retry after the Retry-After delay",
    }.items()
}
_NOT_KEPT: Final = (NotAuthenticated, BodyTooLarge)
"""Refusals whose body is never stored (anonymous, or too large to keep): logged instead."""


def webhook_path(source: Source) -> str:
    """``/v1/tickets`` for vigie's own shape, ``/v1/webhooks/<name>`` for the others."""
    return "/v1/tickets" if source.name == CANONICAL else f"/v1/webhooks/{source.name}"


async def receive(request: Request, runtime: Runtime, source: Source) -> Response:
    """Answer one webhook; every outcome is counted by source and status."""
    started = time.perf_counter()
    try:
        response = await _receive(request, runtime, source)
    except IngestError as exc:
        response = problem_response(exc)
        if isinstance(exc, _NOT_KEPT):
            _log_unkept(runtime.refusal_log, source.name, exc)
    runtime.metrics.webhooks.labels(source.name, str(response.status_code)).inc()
    runtime.metrics.duration.labels(source.name).observe(time.perf_counter() - started)
    return response


async def _receive(request: Request, runtime: Runtime, source: Source) -> Response:
    settings = runtime.settings
    body = await read_body(request, settings.max_body_bytes)
    admission.authenticate(
        body,
        request.headers,
        source=source.name,
        credentials=runtime.credentials[source.name],
        now=runtime.clock.now().timestamp(),
    )
    try:
        admission.check_media_type(request.headers.get("content-type"))
        mapped = admission.parse(body, source=source, mapping=runtime.mapping)
    except IngestError as exc:
        await _keep_rejection(request, runtime, source.name, body, exc)
        raise
    try:
        outcome = await runtime.intake.accept(mapped)
    except Exception as exc:  # the database is away: the sender must retry, nothing accepted
        log.exception("could not store webhook", source=source.name)
        raise StorageUnavailable("the ticket could not be stored; retry later") from exc
    state = mapped.fields.state.value
    runtime.metrics.outcomes.labels(source.name, outcome.status, state).inc()
    answer = AcceptedRead.model_construct(
        status=outcome.status,
        ticket_id=outcome.ticket_id,
        version=outcome.version,
        event_id=outcome.event_id,
        duplicate=outcome.duplicate,
        stale=outcome.stale,
        ticket_url=f"/v1/tickets/{outcome.ticket_id}",
    )
    return Response(answer.model_dump_json(), status_code=202, media_type="application/json")


def _log_unkept(throttle: Throttle, source: str, error: IngestError) -> None:
    """Say why a body was refused without keeping it; a flood is logged once a minute."""
    suppressed = throttle.allow(f"{source}:{type(error).__name__}")
    if suppressed is not None:
        log.warning(
            "webhook refused",
            source=source,
            status=status_of(error),
            reason=error.reason,
            suppressed=suppressed,
        )


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; refuse early on a declared larger length."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _keep_rejection(
    request: Request, runtime: Runtime, source: str, body: bytes, error: IngestError
) -> None:
    try:
        async with runtime.sessions() as session, session.begin():
            await records.reject(
                session,
                source=source,
                status_code=status_of(error),
                reason=error.reason,
                errors=error.errors,
                content_type=request.headers.get("content-type"),
                body=body,
                keep_bytes=runtime.settings.rejected_body_bytes,
                now=runtime.clock.now(),
            )
    except Exception:  # the sender still gets its 4xx; the log keeps the trace
        log.exception("could not keep rejected webhook", source=source)


class WebhookFastPath:
    """ASGI middleware answering ``POST`` on the webhook paths without the router.

    Routing, the exception middleware and the exit stack cost a third of a webhook's CPU;
    the pipeline handles its own errors, and Starlette's server-error middleware, outside
    this one, still turns a bug into a 500. The FastAPI routes document the same paths.
    """

    def __init__(self, app: ASGIApp, *, sources: dict[str, Source]) -> None:
        self.app = app
        self.paths = {webhook_path(s): s.name for s in sources.values()}

    async def __call__(self, scope: Scope, receive_: Receive, send: Send) -> None:
        """Serve a webhook, pass anything else on."""
        name = self.paths.get(scope.get("path", "")) if scope["type"] == "http" else None
        if name is None or scope["method"] != "POST":
            await self.app(scope, receive_, send)
            return
        request = Request(scope, receive_)
        runtime: Runtime = request.state.runtime
        response = await receive(request, runtime, runtime.sources[name])
        await response(scope, receive_, send)


def add_webhook_routes(app: FastAPI, sources: dict[str, Source]) -> None:
    """One POST route per source, documented with the source's payload schema and example.

    Requests are served by :class:`WebhookFastPath`; these routes give the OpenAPI schema
    (and serve the requests too if the middleware is not installed).
    """
    app.add_middleware(WebhookFastPath, sources=sources)
    for source in sources.values():
        app.add_api_route(
            webhook_path(source),
            _endpoint(source.name),
            methods=["POST"],
            status_code=202,
            response_model=AcceptedRead,
            responses=_REFUSALS,
            tags=["webhooks"],
            name=f"receive_{source.name}",
            summary=f"Receive a {source.name} ticket",
            description=(source.__doc__ or "").strip(),
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "$ref": f"#/components/schemas/{source.payload_model.__name__}"
                            },
                            "example": source.example,
                        }
                    },
                },
                "security": [{"signature": []}, {"bearer": []}],
            },
        )


def _endpoint(name: str) -> Any:
    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.state.runtime
        return await receive(request, runtime, runtime.sources[name])

    endpoint.__name__ = f"receive_{name}"
    return endpoint
