"""The producer under faults: bounded errors in an outage, a refused idempotent producer, sizes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from vigie_common.kafka.failures import RecordRefused, is_permanent
from vigie_common.kafka.producer import BrokerUnavailable, EventProducer, producer_options
from vigie_common.kafka.records import OutgoingRecord
from vigie_common.kafka.tansu import default_topics, ensure_topics, free_port
from vigie_common.logs import configure_logging
from vigie_common.settings import ServiceSettings

from tests.support.kafka import read_records, unique_topic

MIB = 1024 * 1024
SASL_PASSWORD = "sasl-pw-0123456789-never-shown"
ERROR_BOUND = 300
"""Longest error text the producer may hold or return (type name + short message)."""


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Logs as the services write them (call ``configure_logging`` in the test); put back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    aiokafka_level = logging.getLogger("aiokafka").level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(aiokafka_level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def record(topic: str, key: str, size: int = 16) -> OutgoingRecord:
    return OutgoingRecord(topic=topic, key=key, value=b"v" * size, headers=(("h", b"1"),))


def unreachable_settings(**extra: Any) -> ServiceSettings:
    """Settings of a broker that is not there: a loopback port nobody listens on."""
    return ServiceSettings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        kafka_idempotence=False,
        kafka_request_timeout_ms=1_000,
        **extra,
    )


async def test_outage_errors_stay_bounded_and_are_logged_once_per_interval(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    """Item 1: each failed send used to wrap the previous error; 40 sends gave 16 MB lines."""
    configure_logging(service="test", level="INFO")
    producer = EventProducer(
        producer_options(unreachable_settings(), client_id="vigie-test-outage"),
        start_backoff=0.02,  # several sends fall inside one backoff: that is where errors nested
    )
    lengths: list[int] = []
    try:
        for i in range(50):
            results = await producer.send_many([record("vigie.test.v1", f"k-{i}")])
            [error] = results
            assert isinstance(error, BrokerUnavailable)
            lengths.append(len(repr(error)))
            assert producer.last_error is not None
            assert len(producer.last_error) <= ERROR_BOUND, producer.last_error[:500]
            await asyncio.sleep(0.002)
    finally:
        await producer.stop()

    assert max(lengths) <= ERROR_BOUND + 40, lengths
    assert lengths[-1] == lengths[0], lengths
    lines = [line for line in json_logs.readouterr().err.splitlines() if line.strip()]
    ours = [json.loads(line) for line in lines if "kafka.producer" in line]
    assert len(ours) <= 2, [r["event"] for r in ours]
    assert all(len(line.encode()) <= 4096 for line in lines), max(len(x) for x in lines)
    # aiokafka logs each start attempt; the attempts back off, so these stay few too.
    assert len(lines) <= 10, len(lines)


async def test_repeated_start_failure_is_logged_once_then_with_the_suppressed_count(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    configure_logging(service="test", level="INFO")
    producer = EventProducer(
        producer_options(unreachable_settings(), client_id="vigie-test-throttle"),
        start_backoff=0.001,
        log_every=0.3,
    )
    try:
        for i in range(8):
            await producer.send_many([record("vigie.test.v1", f"k-{i}")])
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()

    lines = json_logs.readouterr().err.splitlines()
    ours = [json.loads(line) for line in lines if "kafka.producer" in line]
    assert [r["event"] for r in ours] == ["kafka producer not started"] * len(ours)
    assert 2 <= len(ours) <= 3, ours
    assert ours[0]["suppressed"] == 0
    assert ours[1]["suppressed"] >= 3


async def test_an_unreachable_broker_is_a_public_problem_without_addresses() -> None:
    """Item 2 / 10: ``problem`` goes to /readyz, so no host name nor port; logs keep them."""
    settings = unreachable_settings()
    producer = EventProducer(producer_options(settings, client_id="vigie-test-problem"))
    try:
        with pytest.raises(BrokerUnavailable):
            await producer.ensure_started()
    finally:
        await producer.stop()

    assert producer.problem == "unreachable (KafkaConnectionError)"
    assert producer.last_error is not None
    assert "cannot reach Kafka" in producer.last_error
    assert not producer.healthy


def test_a_producer_never_started_has_a_problem_that_says_so() -> None:
    producer = EventProducer({"bootstrap_servers": "kafka.internal:9092"})

    assert producer.problem == "not connected yet"
    assert not producer.healthy


async def test_broker_refusing_the_idempotent_producer_names_the_setting(
    kafka_bootstrap: str, kafka_supports_idempotence: bool
) -> None:
    """Item 2: Tansu refuses InitProducerId; this was reported as 'cannot reach … UnknownError'."""
    if kafka_supports_idempotence:
        pytest.skip("this broker (real Kafka) accepts the idempotent producer")
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=True)
    producer = EventProducer(producer_options(settings, client_id="vigie-test-idempotence"))
    try:
        with pytest.raises(BrokerUnavailable) as caught:
            await producer.ensure_started()
    finally:
        await producer.stop()

    message = producer.last_error or ""
    assert "VIGIE_KAFKA_IDEMPOTENCE=false" in message, message
    assert "InitProducerId" in message, message
    assert "cannot reach" not in message, message
    assert "VIGIE_KAFKA_IDEMPOTENCE=false" in str(caught.value)
    assert producer.problem == "idempotent producer refused: set VIGIE_KAFKA_IDEMPOTENCE=false"
    assert kafka_bootstrap not in (producer.problem or "")


async def test_an_oversize_record_fails_alone_and_its_neighbours_are_delivered(
    kafka_bootstrap: str, kafka_supports_idempotence: bool
) -> None:
    """Item 4: a record over the limit is refused before sending; the others go through."""
    topic = unique_topic()
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotence=kafka_supports_idempotence,
        kafka_max_message_bytes=MIB,
    )
    producer = EventProducer(producer_options(settings, client_id="vigie-test-size"))
    batch = [
        record(topic, "small-1"),
        record(topic, "huge", size=MIB + 10_000),
        record(topic, "small-2"),
    ]
    try:
        results = await asyncio.wait_for(producer.send_many(batch), timeout=30)
        assert producer.healthy  # a refused record says nothing about the broker
    finally:
        await producer.stop()

    first, refused, last = results
    assert (first, last) == (None, None), results
    assert isinstance(refused, RecordRefused), results
    assert is_permanent(refused)
    assert "over the 1048576-byte limit (VIGIE_KAFKA_MAX_MESSAGE_BYTES)" in str(refused)
    assert str(refused).startswith("record of ")
    found = await read_records(
        kafka_bootstrap, topic, keys={"small-1", "huge", "small-2"}, expect=2
    )
    assert sorted(r.key.decode() for r in found) == ["small-1", "small-2"]


def test_producer_options_carry_the_message_size_limit() -> None:
    settings = ServiceSettings(kafka_max_message_bytes=3 * MIB)

    options = producer_options(settings, client_id="vigie-test")

    assert options["max_request_size"] == 3 * MIB
    assert ServiceSettings().kafka_max_message_bytes == 2 * MIB


def test_default_topics_carry_max_message_bytes() -> None:
    topics = default_topics(2, max_message_bytes=3 * MIB)

    assert topics
    assert {t.topic_configs["max.message.bytes"] for t in topics} == {str(3 * MIB)}
    assert {t.topic_configs["max.message.bytes"] for t in default_topics()} == {str(2 * MIB)}


async def test_ensure_topics_creates_topics_with_the_size_limit(kafka_bootstrap: str) -> None:
    """The broker-side limit matches the producer's, so what the producer sends is kept."""
    topic = unique_topic()
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap, kafka_max_message_bytes=3 * MIB
    )

    await ensure_topics(kafka_bootstrap, [NewTopic(topic, 1, 1)], settings=settings)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        # All of the topic's configs: Tansu drops the connection when asked for named ones.
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs=None)
        [response] = await admin.describe_configs([resource])
    finally:
        await admin.close()
    [(_code, _message, _type, name, entries)] = [r[:5] for r in response.resources]
    assert name == topic
    values = {entry[0]: entry[1] for entry in entries}
    assert values.get("max.message.bytes") == str(3 * MIB), values


async def test_the_sasl_password_shows_in_no_log_nor_error_when_the_broker_refuses(
    kafka_bootstrap: str, json_logs: pytest.CaptureFixture[str]
) -> None:
    """Item 7: the broker (Tansu, Kafka without SASL) refuses this login; the password stays out."""
    configure_logging(service="test", level="DEBUG")
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotence=False,
        kafka_request_timeout_ms=3_000,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="vigie",
        kafka_sasl_password=SASL_PASSWORD,
    )
    producer = EventProducer(producer_options(settings, client_id="vigie-test-sasl"))
    try:
        results = await asyncio.wait_for(
            producer.send_many([OutgoingRecord(topic=unique_topic(), key="k", value=b"v")]),
            timeout=30,
        )
    finally:
        await producer.stop()

    err = json_logs.readouterr().err
    texts = [err, repr(results), producer.last_error or "", producer.problem or ""]
    texts.append(repr(producer))
    for text in texts:
        assert SASL_PASSWORD not in text, text
    assert any(json.loads(line).get("logger") for line in err.splitlines() if line.strip())
