"""Ingest's HTTP edge: webhooks in, tickets and rejections out, health for the orchestrator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from vigie_ingest import service
from vigie_ingest.dependencies import ReadAccess, RuntimeDep, SessionDep
from vigie_ingest.errors import NotFound
from vigie_ingest.runtime import Runtime
from vigie_ingest.schemas import AcceptedRead, Health, Problem, RejectionPage, TicketRead
from vigie_ingest.sources.base import Source
from vigie_ingest.webhooks import receive as receive_webhook

CANONICAL = "canonical"
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text_, "content": {"application/problem+json": {}}}
    for status, text_ in {
        400: "The body is not a JSON object",
        401: "Missing or wrong signature or token, or a timestamp outside the replay window",
        413: "The body is over the size limit",
        415: "The content type is not application/json",
        422: "The JSON does not fit the source's contract; `errors` lists each field",
        503: "The ticket could not be stored; retry after the Retry-After delay",
    }.items()
}

router = APIRouter(prefix="/v1")
probes = APIRouter(tags=["health"])


def webhook_path(source: Source) -> str:
    """``/v1/tickets`` for vigie's own shape, ``/v1/webhooks/<name>`` for the others."""
    return "/v1/tickets" if source.name == CANONICAL else f"/v1/webhooks/{source.name}"


class WebhookFastPath:
    """ASGI middleware answering ``POST`` on the webhook paths without the router.

    Routing, the exception middleware and the exit stack cost a third of a webhook's CPU;
    the pipeline handles its own errors, and Starlette's server-error middleware, outside
    this one, still turns a bug into a 500. The FastAPI routes document the same paths.
    """

    def __init__(self, app: ASGIApp, *, sources: dict[str, Source]) -> None:
        self.app = app
        self.paths = {webhook_path(s): s.name for s in sources.values()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a webhook, pass anything else on."""
        name = self.paths.get(scope.get("path", "")) if scope["type"] == "http" else None
        if name is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        runtime: Runtime = request.state.runtime
        response = await receive_webhook(request, runtime, runtime.sources[name])
        await response(scope, receive, send)


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
            responses=_PROBLEMS,
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
        return await receive_webhook(request, runtime, runtime.sources[name])

    endpoint.__name__ = f"receive_{name}"
    return endpoint


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketRead,
    responses={404: {"model": Problem}, 401: {"model": Problem}},
    dependencies=[ReadAccess],
    tags=["tickets"],
    summary="A ticket's current state and history",
)
async def read_ticket(ticket_id: str, session: SessionDep) -> TicketRead:
    """Current canonical ticket plus every version received (stale ones included)."""
    ticket = await service.get_ticket(session, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id!r}")
    return ticket


@router.get(
    "/rejected",
    response_model=RejectionPage,
    responses={401: {"model": Problem}},
    dependencies=[ReadAccess],
    tags=["tickets"],
    summary="Webhooks that were authenticated but refused",
)
async def read_rejections(
    session: SessionDep,
    source: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="id from next_before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RejectionPage:
    """Newest first, with the reason, the field errors and the (bounded) body."""
    return await service.list_rejections(session, source=source, before=before, limit=limit)


@probes.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@probes.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health}},
    summary="Readiness: database, broker, outbox",
)
async def readyz(runtime: RuntimeDep) -> Response:
    """503 only when the database is away: with Kafka away webhooks still land in the outbox."""
    checks: dict[str, Any] = {}
    ready = True
    try:
        async with runtime.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        checks["database"] = f"unavailable: {type(exc).__name__}"
        ready = False
    producer = runtime.producer
    checks["broker"] = (
        "ok" if producer.healthy else f"unavailable: {producer.last_error or 'not connected yet'}"
    )
    if ready:
        backlog, age = await runtime.relay.refresh_stats()
        checks["outbox"] = {"backlog": backlog, "oldest_age_s": round(age, 3)}
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
