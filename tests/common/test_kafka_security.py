"""Kafka TLS and SASL: refusals that name the variable, options per protocol, a real TLS hop."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cryptography.hazmat.primitives import serialization
from vigie_common.cli import load_settings
from vigie_common.kafka.consumer import consumer_options
from vigie_common.kafka.producer import BrokerUnavailable, EventProducer, producer_options
from vigie_common.kafka.records import OutgoingRecord
from vigie_common.kafka.security import KafkaSecurityError, security_options, ssl_context
from vigie_common.kafka.tansu import ensure_topics, free_port, tansu_binary
from vigie_common.settings import ServiceSettings
from vigie_ingest.settings import IngestSettings

from tests.support.kafka import unique_group, unique_topic

PASSWORD = "sasl-pw-0123456789-never-shown"
KEY_PASSWORD = "key-pw-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("VIGIE_"):
            monkeypatch.delenv(name)


@dataclass
class Pki:
    """A test CA, the broker's certificate for 127.0.0.1 and a client's, as PEM files."""

    ca: trustme.CA
    server: trustme.LeafCert
    cafile: Path
    certfile: Path
    keyfile: Path
    key_password_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client = ca.issue_cert("vigie-test-client")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(folder / "client.pem"))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
    )
    (folder / "client.key").write_bytes(encrypted)
    (folder / "key-password").write_text(KEY_PASSWORD + "\n")
    return Pki(
        ca=ca,
        server=ca.issue_cert("127.0.0.1"),
        cafile=folder / "ca.pem",
        certfile=folder / "client.pem",
        keyfile=folder / "client.key",
        key_password_file=folder / "key-password",
    )


def mutual_tls(pki: Pki, **extra: Any) -> dict[str, Any]:
    return {
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": pki.cafile,
        "kafka_ssl_certfile": pki.certfile,
        "kafka_ssl_keyfile": pki.keyfile,
        "kafka_ssl_key_password_file": pki.key_password_file,
        **extra,
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"VIGIE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "VIGIE_KAFKA_SASL_PASSWORD": PASSWORD},
            "VIGIE_KAFKA_SASL_USERNAME is required when VIGIE_KAFKA_SECURITY_PROTOCOL is SASL_SSL",
        ),
        (
            {"VIGIE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "VIGIE_KAFKA_SASL_USERNAME": "u"},
            "VIGIE_KAFKA_SASL_PASSWORD or VIGIE_KAFKA_SASL_PASSWORD_FILE is required when "
            "VIGIE_KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT",
        ),
        (
            {"VIGIE_KAFKA_SASL_USERNAME": "u", "VIGIE_KAFKA_SASL_PASSWORD": PASSWORD},
            "SASL credentials are set but VIGIE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
        ),
        (
            {"VIGIE_KAFKA_SECURITY_PROTOCOL": "SSL", "VIGIE_KAFKA_SSL_KEYFILE": "{keyfile}"},
            "VIGIE_KAFKA_SSL_CERTFILE is required when VIGIE_KAFKA_SSL_KEYFILE is set",
        ),
        (
            {"VIGIE_KAFKA_SSL_CAFILE": "{cafile}"},
            "VIGIE_KAFKA_SSL_CAFILE is set but VIGIE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
        ),
    ],
    ids=["sasl-no-user", "sasl-no-password", "sasl-without-sasl", "key-no-cert", "tls-files-plain"],
)
def test_an_incomplete_combination_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pki: Pki,
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(keyfile=pki.keyfile, cafile=pki.cafile))

    with pytest.raises(SystemExit) as caught:
        load_settings(IngestSettings, prog="vigie-ingest")

    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.startswith("vigie-ingest: invalid settings: "), err
    assert PASSWORD not in err


def test_a_key_that_does_not_open_with_its_password_names_the_variables(
    pki: Pki, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    settings = ServiceSettings(**mutual_tls(pki, kafka_ssl_key_password_file=wrong))

    with pytest.raises(KafkaSecurityError, match="VIGIE_KAFKA_SSL_KEY_PASSWORD_FILE") as caught:
        ssl_context(settings)

    assert "not-the-password" not in str(caught.value)


def test_plaintext_options_carry_no_tls_nor_sasl() -> None:
    assert security_options(ServiceSettings()) == {"security_protocol": "PLAINTEXT"}


def test_ssl_options_verify_the_broker_and_present_the_client_certificate(pki: Pki) -> None:
    options = security_options(ServiceSettings(**mutual_tls(pki)))

    assert set(options) == {"security_protocol", "ssl_context"}
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_options_carry_the_mechanism_and_credentials(mechanism: str) -> None:
    settings = ServiceSettings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="vigie",
        kafka_sasl_password=PASSWORD,
    )

    assert security_options(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "vigie",
        "sasl_plain_password": PASSWORD,
    }


def test_sasl_ssl_options_read_the_password_file(pki: Pki, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    settings = ServiceSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=pki.cafile,
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="vigie",
        kafka_sasl_password_file=secret,
    )

    options = security_options(settings)

    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["sasl_plain_password"] == PASSWORD
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
async def test_aiokafka_clients_accept_the_options_of_every_protocol(
    pki: Pki, protocol: str
) -> None:
    """Item 7: every protocol but PLAINTEXT used to raise a ValueError nothing caught."""
    tls = protocol.endswith("SSL")
    settings = ServiceSettings(
        kafka_security_protocol=protocol,
        kafka_ssl_cafile=pki.cafile if tls else None,
        kafka_sasl_username="vigie" if protocol.startswith("SASL") else None,
        kafka_sasl_password=PASSWORD if protocol.startswith("SASL") else None,
    )
    producer = AIOKafkaProducer(**producer_options(settings, client_id="vigie-test"))
    consumer = AIOKafkaConsumer(
        **consumer_options(settings, group_id="vigie-test", client_id="vigie-test")
    )
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1", **security_options(settings))
    await producer.stop()
    await consumer.stop()
    await admin.close()


def test_the_sasl_password_shows_in_no_repr(pki: Pki) -> None:
    settings = ServiceSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=pki.cafile,
        kafka_sasl_username="vigie",
        kafka_sasl_password=PASSWORD,
    )
    options = producer_options(settings, client_id="vigie-test")
    group = consumer_options(settings, group_id="g", client_id="vigie-test")

    assert options["sasl_plain_password"] == PASSWORD
    for text in (repr(settings), str(settings), repr(options), repr(group)):
        assert PASSWORD not in text, text
    assert "sasl_plain_password" in repr(options)


@dataclass
class TlsProxy:
    """Terminates TLS on ``port`` and relays the plain bytes to ``upstream`` (a Tansu listener)."""

    port: int
    upstream: int
    context: ssl.SSLContext
    server: asyncio.Server | None = None
    relays: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.context
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.relays.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
            await asyncio.gather(_relay(reader, up_writer), _relay(up_reader, writer))
        except OSError:
            writer.close()
        finally:
            self.relays.discard(task)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.relays):
            task.cancel()
        await asyncio.gather(*self.relays, return_exceptions=True)


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def _wait_for_port(port: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return


@pytest.fixture
def split_tansu() -> Iterator[tuple[int, int]]:
    """Tansu listening in plain TCP on one port and advertising another: ``(listen, advertised)``.

    Every connection a client opens (bootstrap, then the advertised broker) goes to the
    advertised port, where the TLS proxy sits.
    """
    inner, outer = free_port(), free_port()
    argv = [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{inner}"]
    argv += ["--advertised-listener-url", f"tcp://127.0.0.1:{outer}"]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        yield inner, outer
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def tls_broker(pki: Pki, split_tansu: tuple[int, int]) -> AsyncIterator[str]:
    """The TLS address of Tansu behind a proxy that requires a client certificate."""
    inner, outer = split_tansu
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.server.configure_cert(context)
    pki.ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    proxy = TlsProxy(port=outer, upstream=inner, context=context)
    try:
        await _wait_for_port(inner)
        await proxy.start()
        yield f"127.0.0.1:{outer}"
    finally:
        await proxy.close()


@pytest.mark.integration
async def test_a_producer_and_a_consumer_talk_to_the_broker_over_mutual_tls(
    tls_broker: str, pki: Pki
) -> None:
    """Item 7: a real handshake (CA, client certificate, encrypted key) both ways."""
    settings = ServiceSettings(
        **mutual_tls(pki, kafka_bootstrap_servers=tls_broker, kafka_idempotence=False)
    )
    topic = unique_topic()
    await ensure_topics(tls_broker, [NewTopic(topic, 1, 1)], settings=settings)
    producer = EventProducer(producer_options(settings, client_id="vigie-test-tls"))
    try:
        results = await asyncio.wait_for(
            producer.send_many([OutgoingRecord(topic=topic, key="k-tls", value=b"over tls")]),
            timeout=30,
        )
    finally:
        await producer.stop()
    assert results == [None], producer.last_error

    consumer = AIOKafkaConsumer(
        topic, **consumer_options(settings, group_id=unique_group(), client_id="vigie-test-tls")
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"k-tls", b"over tls")


@pytest.mark.integration
async def test_a_broker_whose_certificate_the_ca_did_not_sign_is_refused(
    tls_broker: str, pki: Pki, tmp_path: Path
) -> None:
    """The client really verifies: another CA's bundle makes the handshake fail."""
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    settings = ServiceSettings(
        **mutual_tls(
            pki,
            kafka_bootstrap_servers=tls_broker,
            kafka_idempotence=False,
            kafka_ssl_cafile=other,
            kafka_request_timeout_ms=2_000,
        )
    )
    producer = EventProducer(producer_options(settings, client_id="vigie-test-tls-bad"))
    try:
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(producer.ensure_started(), timeout=30)
    finally:
        await producer.stop()
    assert producer.problem == "unreachable (KafkaConnectionError)"
