"""A worker's read API, on one port: ``/healthz``, ``/readyz``, ``/metrics`` and its own GETs.

The service's routes (an ``APIRouter``) answer technicians, so they follow ingest's read rule
(:func:`vigie_common.access.check_read_access`): refusals are RFC 9457 problem documents.
Health, readiness and metrics stay open, for the orchestrator and Prometheus; readiness says
which check failed by its error type only, never with a broker or database address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Protocol

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vigie_common.access import ReadDenied, check_read_access
from vigie_common.metrics import metrics_endpoint
from vigie_common.settings import ServiceSettings

__all__ = ["PROBLEM_JSON", "ConsumerState", "Readiness", "create_worker_app", "problem_response"]

PROBLEM_JSON: Final = "application/problem+json"
DATABASE_CHECK_TIMEOUT: Final = 2.0
"""Seconds per check: a database that does not answer is as unready as one that refuses, and
``/readyz`` must answer before the orchestrator's probe gives up."""
TITLES: Final = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


class ConsumerState(Protocol):
    """What readiness reads from the consume loop (``ConsumeLoop`` has it)."""

    @property
    def joined(self) -> bool:
        """True once the group assigned this member its partitions."""
        ...

    @property
    def partitions(self) -> int | None:
        """Partitions held; ``None`` while not a member."""
        ...


class Readiness:
    """The checks behind ``/readyz``: ready = database answers and the group was joined.

    ``extra`` adds informational checks (the outbox backlog, the tasks' states) that never
    make the worker unready: a slow relay or a restarting task is not a reason to take the
    read API out of rotation.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        consumer: ConsumerState,
        extra: Mapping[str, Callable[[], Any]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._consumer = consumer
        self._extra = dict(extra or {})

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """``(ready, checks)``; each check is ``"ok"`` or says what is missing."""
        checks: dict[str, Any] = {}
        database = await self._database()
        checks["database"] = database
        if self._consumer.joined:
            checks["consumer"] = "ok"
            checks["partitions"] = self._consumer.partitions
        else:
            checks["consumer"] = "joining its consumer group"
        for name, read in self._extra.items():
            try:
                async with asyncio.timeout(DATABASE_CHECK_TIMEOUT):
                    value = read()
                    checks[name] = await value if asyncio.iscoroutine(value) else value
            except Exception as exc:  # noqa: BLE001 - informational: say so, stay up
                checks[name] = f"unavailable: {type(exc).__name__}"
        return database == "ok" and self._consumer.joined, checks

    async def _database(self) -> str:
        try:
            async with asyncio.timeout(DATABASE_CHECK_TIMEOUT), self._sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
            return f"unavailable: {type(exc).__name__}"
        return "ok"


def problem_response(status: int, detail: str) -> JSONResponse:
    """An RFC 9457 problem document (``type``, ``title``, ``status``, ``detail``)."""
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def create_worker_app(
    settings: ServiceSettings,
    *,
    name: str,
    registry: CollectorRegistry,
    readiness: Readiness,
    routes: APIRouter | None = None,
) -> FastAPI:
    """The worker's app; ``routes`` get the read-token rule, the probes and metrics do not.

    No ``/docs`` or ``/openapi.json``: they would be GET routes outside the read rule.
    """
    app = FastAPI(title=f"vigie {name}", openapi_url=None, docs_url=None, redoc_url=None)

    async def read_access(authorization: Annotated[str | None, Header()] = None) -> None:
        check_read_access(authorization, token=settings.read_token, env=settings.env)

    async def denied(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ReadDenied)
        return problem_response(exc.status, exc.reason)

    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def readyz() -> JSONResponse:
        ready, checks = await readiness.check()
        body = {"status": "ok" if ready else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    app.add_exception_handler(ReadDenied, denied)
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.add_route("/metrics", metrics_endpoint(registry), include_in_schema=False)
    if routes is not None:
        app.include_router(routes, dependencies=[Depends(read_access)])
    return app
