"""Ticket data is never readable by anyone by default: prod needs a read token."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db, ingest_settings, running_ingest

pytestmark = pytest.mark.integration

STRONG = "read-token-0123456789abcdef"
PROD_SECRETS = "oceane=0123456789abcdef0123"


async def test_prod_without_read_token_refuses_every_read(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(
        ingest_db(sqlite_factory), kafka_bootstrap, env="prod", webhook_secrets=PROD_SECRETS
    )
    async with running_ingest(settings) as client:
        tickets = await client.get("/v1/tickets/any")
        rejected = await client.get("/v1/rejected", headers={"authorization": "Bearer x"})
        health = await client.get("/healthz")
    for answer in (tickets, rejected):
        assert answer.status_code == 403
        assert answer.headers["content-type"] == "application/problem+json"
        assert "VIGIE_READ_TOKEN" in answer.json()["detail"]
    assert health.status_code == 200


async def test_prod_with_read_token_needs_it_on_every_read(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str
) -> None:
    settings = ingest_settings(
        ingest_db(sqlite_factory),
        kafka_bootstrap,
        env="prod",
        webhook_secrets=PROD_SECRETS,
        read_token=STRONG,
    )
    async with running_ingest(settings) as client:
        anonymous = await client.get("/v1/rejected")
        wrong = await client.get("/v1/rejected", headers={"authorization": "Bearer nope"})
        empty = await client.get("/v1/rejected", headers={"authorization": "Bearer "})
        allowed = await client.get("/v1/rejected", headers={"authorization": f"Bearer {STRONG}"})
    assert [a.status_code for a in (anonymous, wrong, empty)] == [401, 401, 401]
    assert allowed.status_code == 200


@pytest.mark.parametrize("token", ["", "   ", "short", "changeme"])
def test_empty_or_weak_read_token_is_refused_in_prod(token: str) -> None:
    with pytest.raises(ValidationError, match="read token"):
        ingest_settings("sqlite+aiosqlite:///x.db", "unused:9092", env="prod", read_token=token)


@pytest.mark.parametrize("env", ["dev", "test"])
def test_empty_read_token_is_refused_in_every_env(env: str) -> None:
    """An empty token would match an empty ``Bearer`` header: it is never a token."""
    with pytest.raises(ValidationError, match="empty"):
        ingest_settings("sqlite+aiosqlite:///x.db", "unused:9092", env=env, read_token="")
