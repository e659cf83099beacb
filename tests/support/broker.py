"""A Kafka broker for tests: testcontainers' Kafka when Docker answers, else Tansu on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from vigie_common.kafka.tansu import EmbeddedBroker, default_topics, ensure_topics

from tests.support.docker import docker_available


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a broker shared by the session, with vigie's topics created."""
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as kafka:
            servers = kafka.get_bootstrap_server()
            asyncio.run(ensure_topics(servers, default_topics()))
            yield servers
        return
    broker = EmbeddedBroker()
    broker.launch()
    try:
        asyncio.run(broker.wait_ready())
        yield broker.bootstrap_servers
    finally:
        broker.close()


@pytest.fixture
def kafka_supports_idempotence() -> bool:
    """Tansu refuses the idempotent producer; real Kafka has it."""
    return docker_available()


@pytest.fixture
async def own_broker() -> AsyncIterator[EmbeddedBroker]:
    """A Tansu of this test's own, for outage tests (pause / resume / late start)."""
    broker = EmbeddedBroker()
    yield broker
    await broker.stop()
