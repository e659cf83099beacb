"""The notifier's read edge: notifications and GTR records, for technicians and operators.

Mounted by the worker app behind the read token. A ticket the notifier knows nothing about
is a 404 problem document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.http.worker_api import problem_response

from vigie_notifier import records

__all__ = ["make_routes"]

TicketId = Annotated[str, Path(min_length=1, max_length=200)]


def make_routes(sessions: async_sessionmaker[AsyncSession]) -> APIRouter:
    """``/v1/notifications``, ``/v1/tickets/{id}/notifications``, ``/v1/tickets/{id}/gtr``."""
    router = APIRouter(prefix="/v1")

    @router.get("/notifications")
    async def list_notifications(
        state: Literal["pending", "sent", "failed"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[int | None, Query(ge=1, description="Cursor: the page's next")] = None,
    ) -> Any:
        """Notifications newest first, by state when asked (``pending``: still to go)."""
        async with sessions() as session:
            items, cursor = await records.list_notifications(
                session, state=state, limit=limit, before=before
            )
        return {"items": items, "next": cursor}

    @router.get("/tickets/{ticket_id}/notifications")
    async def ticket_notifications(ticket_id: TicketId) -> Any:
        """Every decision about the ticket (rule, cause, outcome) and its sends."""
        async with sessions() as session:
            found = await records.notifications_of(session, ticket_id)
        return _not_found(ticket_id, "notification") if found is None else found

    @router.get("/tickets/{ticket_id}/gtr")
    async def ticket_gtr(ticket_id: TicketId) -> Any:
        """The ticket's GTR: contract, deadline, pauses, warnings, outcome (met, margin)."""
        async with sessions() as session:
            found = await records.gtr_of(session, ticket_id)
        return _not_found(ticket_id, "GTR record") if found is None else found

    return router


def _not_found(ticket_id: str, what: str) -> JSONResponse:
    return problem_response(404, f"the notifier has no {what} for ticket {ticket_id!r}")
