"""A worker's read API on a real loopback server: the read-token rule, readiness, metrics."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.db.engine import make_engine, make_sessionmaker
from vigie_common.http.server import ApiServer
from vigie_common.http.worker_api import PROBLEM_JSON, Readiness, create_worker_app
from vigie_common.kafka.consumer import ConsumerMetrics
from vigie_common.settings import ServiceSettings

from tests.common.tables import common_db
from tests.support.database import DatabaseFactory
from tests.support.tcp_proxy import TcpProxy, proxied

TOKEN = "a-read-token-of-32-characters-ok"


@dataclass
class Membership:
    """A typed stand-in for the consume loop's group membership."""

    partitions: int | None = 2

    @property
    def joined(self) -> bool:
        return self.partitions is not None


def verdicts() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/verdicts/{ticket_id}")
    async def verdict(ticket_id: str) -> dict[str, str]:
        return {"ticket_id": ticket_id, "verdict": "up"}

    return router


@asynccontextmanager
async def sessions_of(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def serving(
    settings: ServiceSettings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    membership: Membership | None = None,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    readiness = Readiness(sessions=sessions, consumer=membership or Membership())
    app = create_worker_app(
        settings,
        name="prober",
        registry=registry or CollectorRegistry(),
        readiness=readiness,
        routes=verdicts(),
    )
    server = ApiServer(app, host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", timeout=5
        ) as client:
            yield client
    finally:
        await server.stop()


@pytest.fixture
async def sqlite_sessions(
    sqlite_factory: DatabaseFactory,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sessions_of(common_db(sqlite_factory)) as sessions:
        yield sessions


ACCESS = [
    # env, configured token, Authorization header, status
    ("prod", None, None, 403),
    ("prod", TOKEN, None, 401),
    ("prod", TOKEN, "Bearer not-the-token-at-all-nope", 401),
    ("prod", TOKEN, f"Basic {TOKEN}", 401),
    ("prod", TOKEN, f"Bearer {TOKEN}", 200),
    ("dev", TOKEN, None, 401),
    ("test", None, None, 200),
    ("dev", None, None, 200),
]


@pytest.mark.parametrize(
    ("env", "token", "header", "status"), ACCESS, ids=[f"{a[0]}-{a[3]}" for a in ACCESS]
)
async def test_service_routes_follow_the_read_token_rule(
    sqlite_sessions: async_sessionmaker[AsyncSession],
    env: str,
    token: str | None,
    header: str | None,
    status: int,
) -> None:
    settings = ServiceSettings(env=env, read_token=SecretStr(token) if token else None)
    headers = {"Authorization": header} if header else {}

    async with serving(settings, sqlite_sessions) as client:
        answer = await client.get("/v1/verdicts/tkt-1", headers=headers)

    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == {"ticket_id": "tkt-1", "verdict": "up"}
        return
    assert answer.headers["content-type"] == PROBLEM_JSON
    body = answer.json()
    assert set(body) == {"type", "title", "status", "detail"}
    assert (body["status"], body["type"]) == (status, "about:blank")
    assert body["title"] == {401: "Unauthorized", 403: "Forbidden"}[status]
    assert TOKEN not in answer.text
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_probes_and_metrics_need_no_token(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    settings = ServiceSettings(env="prod", read_token=SecretStr(TOKEN))
    registry = CollectorRegistry()
    ConsumerMetrics(registry, "vigie_prober").assigned.set(2)

    async with serving(settings, sqlite_sessions, registry=registry) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
        docs = [(await client.get(path)).status_code for path in ("/docs", "/openapi.json")]

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "consumer": "ok", "partitions": 2},
    }
    assert metrics.status_code == 200
    assert "vigie_prober_consumer_assigned_partitions 2.0" in metrics.text
    assert "vigie_prober_consumer_messages_total" in metrics.text
    assert docs == [404, 404], "no unauthenticated API description"


async def test_readyz_is_503_until_the_group_is_joined(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    membership = Membership(partitions=None)
    async with serving(ServiceSettings(env="test"), sqlite_sessions, membership=membership) as c:
        joining = await c.get("/readyz")
        membership.partitions = 0  # a member with no partition (more members than partitions)
        member = await c.get("/readyz")

    assert joining.status_code == 503
    assert joining.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "consumer": "joining its consumer group"},
    }
    assert member.status_code == 200


@pytest.mark.integration
async def test_readyz_is_503_while_the_database_is_away_and_names_no_address(
    postgres_factory: DatabaseFactory,
) -> None:
    url = common_db(postgres_factory)
    parsed = make_url(url)
    async with proxied(parsed.host or "127.0.0.1", parsed.port or 5432) as proxy:
        proxied_url = parsed.set(host=proxy.host, port=proxy.port)
        async with (
            sessions_of(proxied_url.render_as_string(hide_password=False)) as sessions,
            serving(ServiceSettings(env="test"), sessions) as client,
        ):
            before = await client.get("/readyz")
            await proxy.cut()
            away = await client.get("/readyz")
            await proxy.restore()
            back = await client.get("/readyz")

    assert (before.status_code, away.status_code, back.status_code) == (200, 503, 200)
    assert away.json()["checks"]["database"] == "unavailable: ConnectionRefusedError"
    _assert_no_address(away.text, proxy)


async def test_a_taken_port_fails_at_start_and_names_it(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    app = create_worker_app(
        ServiceSettings(env="test"),
        name="prober",
        registry=CollectorRegistry(),
        readiness=Readiness(sessions=sqlite_sessions, consumer=Membership()),
    )
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = ApiServer(app, host="127.0.0.1", port=port)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await server.start()
    await server.stop()


def _assert_no_address(text: str, proxy: TcpProxy) -> None:
    assert str(proxy.port) not in text
    assert "5432" not in text
