"""FastAPI dependency aliases (``…Dep``), the only place the edge reaches the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.access import check_read_access

from vigie_ingest.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan put in the request state."""
    runtime: Runtime = request.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A session for one request (read-only endpoints)."""
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def require_read_token(request: Request, runtime: RuntimeDep) -> None:
    """The read endpoints need the read token (in prod, always: see ``vigie_common.access``)."""
    settings = runtime.settings
    check_read_access(
        request.headers.get("authorization"), token=settings.read_token, env=settings.env
    )


ReadAccess = Depends(require_read_token)
