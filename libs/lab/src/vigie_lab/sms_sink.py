"""The SMS gateway sink: the gateway's HTTP contract on loopback, every SMS kept as a file.

::

    async with SmsSink.start(tmp_path / "sms", token="t0ken") as sink:
        async with httpx.AsyncClient() as client:
            answer = await client.post(sink.url, json={...}, headers={"Authorization": ...})
        assert answer.status_code == 202 and sink.messages[0].to == "+33612345678"

The contract (the notifier's SMS client follows it; ``README.md`` has it whole): ``POST
<path>`` with ``Authorization: Bearer <token>`` and a JSON body ``{"to", "text", "reference",
"encoding", "segments"}`` → ``202 {"id", "status": "accepted"}``; the same ``reference`` again
→ ``200`` with the same id (a retry never sends a second SMS); ``401`` without the token,
``400 {"error"}`` on a bad body, ``413`` over 64 KiB. Test hooks: :meth:`SmsSink.fail_next`
and :attr:`SmsSink.reject`.

Standard library only: a small HTTP/1.1 server on ``asyncio.start_server`` (keep-alive,
``Content-Length`` bodies, no chunked bodies), so the lab adds no web framework.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final, Literal

from vigie_lab.errors import LabError, ListenFailed
from vigie_lab.loopback import require_loopback
from vigie_lab.sink_files import ordered_name, safe_label, write_atomically
from vigie_lab.startup import Now, clock_of

__all__ = [
    "ENCODINGS",
    "MAX_BODY",
    "SmsMessage",
    "SmsSink",
    "read_or_make_token",
]

MAX_BODY: Final = 64 * 1024
"""Largest body accepted; a ``Content-Length`` above it is answered 413."""
ENCODINGS: Final = ("GSM-7", "UCS-2")
E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
"""``+`` then 2 to 15 digits, the first not 0."""
_FIELDS: Final = ("to", "text", "reference", "encoding", "segments")
_HEAD_LIMIT: Final = 16 * 1024
"""Longest request line or header line (the stream reader's limit)."""
_MAX_HEADERS: Final = 100
_HEAD_TIMEOUT: Final = 30.0
"""Seconds a connection may stay idle (keep-alive) or take to send its head."""
_BODY_TIMEOUT: Final = 30.0
_DRAIN_LIMIT: Final = 1 << 20
"""Bytes of a refused body read and dropped before closing, so the client sees the answer."""
_DRAIN_TIMEOUT: Final = 2.0
_CLOSE_TIMEOUT: Final = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    """One accepted SMS, as written.

    Attributes:
        id: The gateway's id, answered to the client.
        to: The number, E.164.
        text: The text, as sent.
        reference: The client's idempotency key.
        encoding: ``GSM-7`` or ``UCS-2``, as the client declared it.
        segments: The number of parts, as the client declared it.
        received_at: When the sink accepted it (aware).
        path: Its JSON file.
    """

    id: str
    to: str
    text: str
    reference: str
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    received_at: datetime
    path: Path

    def document(self) -> dict[str, Any]:
        """What the file holds (and what a test compares against)."""
        return {
            "id": self.id,
            "to": self.to,
            "text": self.text,
            "reference": self.reference,
            "encoding": self.encoding,
            "segments": self.segments,
            "received_at": self.received_at.isoformat(),
        }


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    keep_alive: bool


class _Answer(Exception):
    """A request that can only be refused: its status and the ``error`` the client reads."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _error_status(status: int) -> int:
    if not 400 <= status <= 599:
        raise ValueError(f"an HTTP error status is 4xx or 5xx, not {status}")
    return status


def read_or_make_token(path: Path) -> str:
    """The bearer token in ``path`` (first line), made at random (mode 0600) when missing.

    Raises:
        LabError: The file exists but its first line is empty.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        token = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(token + "\n")
        return token
    if not lines or not lines[0].strip():
        raise LabError(f"sms sink: the token file {path} is empty (delete it to make one)")
    return lines[0].strip()


def _validate(body: bytes) -> dict[str, Any]:
    """The request's fields, checked; unknown fields are ignored (a newer client is fine)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Answer(400, f"body is not JSON: {error}") from None
    except RecursionError:  # 64 KiB of "[" nest deeper than the parser goes
        raise _Answer(400, "body is not JSON: nested too deep") from None
    if not isinstance(document, dict):
        raise _Answer(400, "body must be a JSON object")
    missing = [field for field in _FIELDS if field not in document]
    if missing:
        raise _Answer(400, f"missing field(s): {', '.join(missing)}")
    problems = []
    to, text, reference = document["to"], document["text"], document["reference"]
    if not isinstance(to, str) or not E164.fullmatch(to):
        problems.append("to must be an E.164 number (+33612345678)")
    if not isinstance(text, str) or not text:
        problems.append("text must be a non-empty string")
    if not isinstance(reference, str) or not reference:
        problems.append("reference must be a non-empty string")
    if document["encoding"] not in ENCODINGS:
        problems.append(f"encoding must be one of {', '.join(ENCODINGS)}")
    segments = document["segments"]
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        problems.append("segments must be an integer, 1 or more")
    if problems:
        raise _Answer(400, "; ".join(problems))
    return document


class SmsSink:
    """A running SMS gateway sink; made by :meth:`start`, stopped when its block ends.

    Attributes:
        folder: Where the JSON files go.
        host: The loopback address it listens on.
        path: The path it answers on (``/messages``).
        reject: Number (E.164) → HTTP status answered for it, e.g. ``{"+33699999999": 422}``
            (a permanent refusal; nothing is written). Change it at any time.
        messages: Every accepted SMS, in order (live list).
        answers: Every status answered to a request on :attr:`path`, in order (live list):
            what a client's retries look like from the gateway.
    """

    def __init__(
        self,
        folder: Path,
        *,
        host: str,
        path: str,
        token: str,
        clock: Callable[[], datetime],
        reject: Mapping[str, int],
    ) -> None:
        self.folder = folder
        self.host = host
        self.path = path
        self.reject: dict[str, int] = dict(reject)
        self.messages: list[SmsMessage] = []
        self.answers: list[int] = []
        self._expected = f"Bearer {token}".encode()
        self._clock = clock
        self._failures: deque[int] = deque()
        self._by_reference: dict[str, SmsMessage] = {}
        self._counter = 0
        self._lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._port = 0

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        folder: Path,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/messages",
        reject: Mapping[str, int] | None = None,
        now: Now = None,
    ) -> AsyncIterator[SmsSink]:
        """Listen on ``host:port`` (0: any free port) until the block ends.

        Args:
            folder: Where to write the SMS (made, mode 0700, if missing).
            token: The bearer token clients must send (never logged).
            host: A loopback address.
            port: The port, 0 for one the system picks (read :attr:`port`).
            path: The path ``POST`` is answered on.
            reject: Initial :attr:`reject`.
            now: The clock stamping the SMS (see :data:`~vigie_lab.startup.Now`).

        Raises:
            ValueError: A host not on loopback, an empty token, a path without ``/``.
            ListenFailed: The address and port cannot be listened on.
        """
        require_loopback("sms sink", host)
        if not token or any(c.isspace() for c in token):
            raise ValueError("sms sink: the token must be non-empty, without spaces")
        if not path.startswith("/"):
            raise ValueError("sms sink: the path starts with /")
        for status in (reject or {}).values():
            _error_status(status)
        sink = cls(
            folder, host=host, path=path, token=token, clock=clock_of(now), reject=reject or {}
        )
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True, mode=0o700)
        await sink._listen(port)
        try:
            yield sink
        finally:
            await sink.close()

    async def _listen(self, port: int) -> None:
        try:
            self._server = await asyncio.start_server(
                self._serve, self.host, port, limit=_HEAD_LIMIT
            )
        except OSError as error:
            raise ListenFailed("sms sink", self.host, port, error.strerror or str(error)) from None
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("sms sink on %s, files in %s", self.url, self.folder)

    @property
    def port(self) -> int:
        """The port it listens on (the one picked when started with 0)."""
        return self._port

    @property
    def url(self) -> str:
        """Where to ``POST``: ``http://127.0.0.1:<port>/messages``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}{self.path}"

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer ``status`` (``{"error": …}``) to the next ``n`` authorised requests.

        They are answered before the body is looked at, nothing is recorded: the gateway is
        down, and the client's retry with the same ``reference`` is then accepted (202).
        Calls queue up.

        Raises:
            ValueError: ``n`` negative or ``status`` not 4xx/5xx.
        """
        if n < 0:
            raise ValueError("n must be 0 or more")
        self._failures.extend([_error_status(status)] * n)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: requests answered in turn until one says close, or an error."""
        task = asyncio.current_task()
        if task is not None:
            self._connections[task] = writer
        try:
            while True:
                try:
                    request = await asyncio.wait_for(_read_head(reader), _HEAD_TIMEOUT)
                except _Answer as refused:
                    await self._refuse(reader, writer, refused.status, refused.error)
                    break
                if request is None:
                    break
                if not await self._exchange(request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away or stalled: nothing to answer
        finally:
            if task is not None:
                self._connections.pop(task, None)
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def _exchange(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; True when the connection can carry another."""
        headers = request.headers
        try:
            length = _content_length(headers)
        except _Answer as refused:
            await self._refuse(reader, writer, refused.status, refused.error, request)
            return False
        early = self._early_refusal(request)
        if length > MAX_BODY:
            status, error = early or (413, f"body over {MAX_BODY} bytes")
            await self._refuse(reader, writer, status, error, request, length)
            return False
        if early is not None and headers.get("expect", "").lower() == "100-continue":
            await self._refuse(reader, writer, early[0], early[1], request, length)
            return False
        if headers.get("expect", "").lower() == "100-continue" and length:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await asyncio.wait_for(reader.readexactly(length), _BODY_TIMEOUT)
        if early is not None:
            status, document = early[0], {"error": early[1]}
        else:
            status, document = await self._handle(body)
        await self._respond(writer, status, document, request.keep_alive, request)
        return request.keep_alive

    def _early_refusal(self, request: _Request) -> tuple[int, str] | None:
        """What is refused from the head alone: another path, method, or no token."""
        if request.path != self.path:
            return 404, f"no such path (POST {self.path})"
        if request.method != "POST":
            return 405, f"use POST on {self.path}"
        given = request.headers.get("authorization", "").encode("latin-1")
        scheme, _, _ = given.partition(b" ")
        normalised = b"Bearer" + given[len(scheme) :] if scheme.lower() == b"bearer" else given
        if not hmac.compare_digest(normalised, self._expected):
            log.warning("sms sink refused a request without the right bearer token")
            return 401, "missing or wrong bearer token"
        return None

    async def _handle(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """An authorised POST's answer: the hooks, the checks, the deduplication, the file."""
        if self._failures:
            status = self._failures.popleft()
            log.info("sms sink failed a request on purpose: %d", status)
            return status, {"error": f"gateway unavailable (lab hook, {status})"}
        try:
            document = _validate(body)
        except _Answer as refused:
            return refused.status, {"error": refused.error}
        async with self._lock:  # dedupe, counter, file and list in one order
            known = self._by_reference.get(document["reference"])
            if known is not None:
                return 200, {"id": known.id, "status": "accepted"}
            if (rejected := self.reject.get(document["to"])) is not None:
                log.info("sms sink rejected %s on purpose: %d", document["to"], rejected)
                return rejected, {"error": f"{document['to']} rejected (lab hook, {rejected})"}
            message = await self._store(document)
        if message is None:
            return 503, {"error": "the gateway could not store the message, try again"}
        log.info("sms sink wrote %s (%d segment(s))", message.path.name, message.segments)
        return 202, {"id": message.id, "status": "accepted"}

    async def _store(self, document: dict[str, Any]) -> SmsMessage | None:
        self._counter += 1
        received_at = self._clock()
        name = ordered_name(received_at, self._counter, safe_label(document["to"], "sms"), ".json")
        message = SmsMessage(
            id=f"lab-{secrets.token_hex(8)}",
            to=document["to"],
            text=document["text"],
            reference=document["reference"],
            encoding=document["encoding"],
            segments=document["segments"],
            received_at=received_at,
            path=self.folder / name,
        )
        data = json.dumps(message.document(), ensure_ascii=False, indent=2) + "\n"
        try:
            await asyncio.to_thread(write_atomically, message.path, data.encode("utf-8"))
        except OSError:
            log.exception("sms sink could not write %s", name)
            return None
        self._by_reference[message.reference] = message
        self.messages.append(message)
        return message

    async def _refuse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        error: str,
        request: _Request | None = None,
        unread: int = _DRAIN_LIMIT,
    ) -> None:
        """Answer, then read and drop what the client still sends before the link is closed.

        Closing a socket with unread data makes the kernel reset the connection, and a reset
        can overtake the answer: the client would see "connection reset" instead of a 413.
        """
        await self._respond(writer, status, {"error": error}, False, request)
        if writer.can_write_eof():
            writer.write_eof()  # the client reads the answer to its end and closes its side
        await _drain(reader, unread)

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        document: dict[str, Any],
        keep_alive: bool,
        request: _Request | None = None,
    ) -> None:
        if request is not None and request.path == self.path:
            self.answers.append(status)
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        head = [
            f"HTTP/1.1 {status} {reason}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            "Server: vigie-lab-sms-sink",
        ]
        if status == 401:
            head.append('WWW-Authenticate: Bearer realm="vigie-lab-sms"')
        if status == 405:
            head.append("Allow: POST")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def close(self) -> None:
        """Stop listening, drop the open connections; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        connections = dict(self._connections)
        for writer in connections.values():
            writer.close()  # the reads end, each connection's task returns (not cancelled:
            # Python 3.11's streams log a cancelled connection task as an error)
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(server.wait_closed())]
        waits += connections
        _, pending = await asyncio.wait(waits, timeout=_CLOSE_TIMEOUT)
        for task in pending:
            task.cancel()


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise _Answer(431, f"request line or header over {_HEAD_LIMIT} bytes") from None
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return b""


async def _read_head(reader: asyncio.StreamReader) -> _Request | None:
    """The request line and headers; None when the client closed between requests."""
    line = await _read_line(reader)
    while line in (b"\r\n", b"\n"):  # tolerated before a request (RFC 9112 §2.2)
        line = await _read_line(reader)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[0].isalpha():
        raise _Answer(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _Answer(505, "HTTP/1.1 only")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = await _read_line(reader)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            raise _Answer(400, "malformed header line")
        name, value = name.lower(), value.strip()
        if name == "content-length" and headers.get(name, value) != value:
            raise _Answer(400, "conflicting Content-Length headers")
        headers[name] = value
    else:
        raise _Answer(431, f"more than {_MAX_HEADERS} headers")
    connection = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    return _Request(method, target.partition("?")[0], headers, keep_alive)


def _content_length(headers: Mapping[str, str]) -> int:
    """The body's length: 0 when not given, refused when chunked (this server reads none)."""
    if "transfer-encoding" in headers:
        raise _Answer(411, "send the body with Content-Length (no chunked bodies)")
    value = headers.get("content-length", "0")
    if not value.isdigit() or not value.isascii():
        raise _Answer(400, "Content-Length must be a number of bytes")
    return int(value)


async def _drain(reader: asyncio.StreamReader, length: int) -> None:
    """Read and drop up to ``length`` bytes (at most 1 MiB, 2 s) or until the client closes."""
    left = min(length, _DRAIN_LIMIT)
    with suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(_DRAIN_TIMEOUT):
            while left > 0 and (chunk := await reader.read(min(left, 65536))):
                left -= len(chunk)
