"""Ingest's read edge: tickets and rejections for operators, health for the orchestrator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from vigie_ingest import records
from vigie_ingest.dependencies import ReadAccess, RuntimeDep, SessionDep
from vigie_ingest.errors import DeadEventNotFound, TicketNotFound
from vigie_ingest.schemas import (
    DeadEventPage,
    Health,
    Problem,
    RejectionPage,
    RequeuedRead,
    TicketRead,
)

router = APIRouter(prefix="/v1", dependencies=[ReadAccess])
probes = APIRouter(tags=["health"])

_READ_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No read token, or not the right one"},
    403: {"model": Problem, "description": "Reads are disabled: no read token is configured"},
}


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketRead,
    responses={404: {"model": Problem}, **_READ_REFUSALS},
    tags=["tickets"],
    summary="A ticket's current state and history",
)
async def read_ticket(ticket_id: str, session: SessionDep) -> TicketRead:
    """Current canonical ticket plus every version received (stale ones included)."""
    ticket = await records.get_ticket(session, ticket_id)
    if ticket is None:
        raise TicketNotFound(f"no ticket {ticket_id!r}")
    return ticket


@router.get(
    "/rejected",
    response_model=RejectionPage,
    responses=_READ_REFUSALS,
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
    return await records.list_rejections(session, source=source, before=before, limit=limit)


@router.get(
    "/outbox/dead",
    response_model=DeadEventPage,
    responses=_READ_REFUSALS,
    tags=["outbox"],
    summary="Events the broker refused for good, set aside",
)
async def read_dead_events(
    session: SessionDep,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="seq from next_before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeadEventPage:
    """Newest first, with the broker's reason; they no longer hold back other tickets."""
    return await records.list_dead_events(session, before=before, limit=limit)


@router.post(
    "/outbox/dead/{event_id}/requeue",
    response_model=RequeuedRead,
    responses={404: {"model": Problem}, **_READ_REFUSALS},
    tags=["outbox"],
    summary="Put a set-aside event back in the queue (after fixing the cause)",
)
async def requeue_dead_event(event_id: str, runtime: RuntimeDep) -> RequeuedRead:
    """The relay tries it again at once; it keeps its place among its ticket's events."""
    async with runtime.sessions() as session, session.begin():
        found = await records.requeue_dead_event(session, event_id=event_id)
    if not found:
        raise DeadEventNotFound(f"no set-aside event {event_id!r}")
    runtime.relay.wake()
    return RequeuedRead(event_id=event_id)


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
    """503 only when the database is away: with Kafka away webhooks still land in the outbox.

    Anyone may call it (the orchestrator does), so it names no host, address or secret.
    """
    checks: dict[str, Any] = {}
    ready = True
    try:
        async with runtime.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        checks["database"] = f"unavailable: {type(exc).__name__}"
        ready = False
    problem = runtime.producer.problem
    checks["broker"] = "ok" if problem is None else f"unavailable: {problem}"
    if ready:
        backlog, age = await runtime.relay.refresh_stats()
        checks["outbox"] = {
            "backlog": backlog,
            "oldest_age_s": round(age, 3),
            "dead": runtime.relay.dead,
        }
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
