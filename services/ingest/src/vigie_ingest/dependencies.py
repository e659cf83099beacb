"""FastAPI dependency aliases (``…Dep``), the only place the edge reaches the runtime."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from vigie_ingest.errors import Unauthorized
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
    """Guard the GET endpoints when ``VIGIE_INGEST_READ_TOKEN`` is set."""
    expected = runtime.settings.read_token
    if expected is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("this endpoint needs Authorization: Bearer <read token>")


ReadAccess = Depends(require_read_token)
