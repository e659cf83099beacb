"""The prober's read edge: a ticket's latest verdict and its observations, for technicians.

Mounted by the worker app behind the read token (``/healthz``, ``/readyz`` and ``/metrics``
are the worker's own). A ticket the prober never planned is a 404 problem document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.http.worker_api import problem_response

from vigie_prober import service

__all__ = ["make_routes"]

TicketId = Annotated[str, Path(min_length=1, max_length=200)]


def make_routes(sessions: async_sessionmaker[AsyncSession]) -> APIRouter:
    """``GET /v1/tickets/{id}/verdict`` and ``GET /v1/tickets/{id}/observations``."""
    router = APIRouter(prefix="/v1")

    @router.get("/tickets/{ticket_id}/verdict")
    async def read_verdict(ticket_id: TicketId) -> Any:
        """The latest verdict (per end, with its evidence) and the plan's next probe."""
        async with sessions() as session:
            found = await service.latest_verdict(session, ticket_id)
        if found is None:
            return _not_found(ticket_id)
        return found

    @router.get("/tickets/{ticket_id}/observations")
    async def read_observations(
        ticket_id: TicketId,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[int | None, Query(ge=1, description="Cursor: the page's next")] = None,
    ) -> Any:
        """Every device probed for the ticket, newest first, a page at a time."""
        async with sessions() as session:
            items, cursor = await service.list_observations(
                session, ticket_id, limit=limit, before=before
            )
            if (
                not items
                and before is None
                and await service.latest_verdict(session, ticket_id) is None
            ):
                return _not_found(ticket_id)
        return {"ticket_id": ticket_id, "items": items, "next": cursor}

    return router


def _not_found(ticket_id: str) -> JSONResponse:
    return problem_response(404, f"the prober has no probe for ticket {ticket_id!r}")
