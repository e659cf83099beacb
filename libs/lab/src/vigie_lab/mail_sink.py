"""The SMTP sink: a local relay that keeps every message as a file, in place of the team's relay.

::

    async with MailSink.start(tmp_path / "mail") as sink:
        await aiosmtplib.send(message, hostname="127.0.0.1", port=sink.port)
        assert sink.messages[0]["Subject"] == "…"

It listens on loopback (aiosmtpd, in the running event loop), accepts every message and writes
it as ``<UTC timestamp>-<counter>-<Message-ID>.eml`` (see :mod:`vigie_lab.sink_files`): the
bytes as received, after one ``X-Vigie-Envelope-From`` line and one ``X-Vigie-Envelope-To``
line per accepted recipient, so that a single file opens in a mail client and still says who
the relay was asked to deliver to. ``250`` is answered only once the file is on disk.

Optional, off by default: AUTH (LOGIN and PLAIN, one username and password) and STARTTLS
(a certificate and key). When both are on, AUTH is refused before STARTTLS, as a submission
relay does. Test hooks: :attr:`MailSink.reject` answers an error to ``RCPT TO`` for a given
recipient (a permanent ``550``); :meth:`MailSink.fail_next` answers an error at the end of
``DATA`` for the next messages (a transient ``451``), nothing being written.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hmac
import logging
import ssl
import warnings
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Final

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from vigie_lab.errors import ListenFailed
from vigie_lab.loopback import require_loopback
from vigie_lab.sink_files import ordered_name, safe_label, write_atomically
from vigie_lab.startup import Now, clock_of

__all__ = ["ENVELOPE_FROM", "ENVELOPE_TO", "MailSink", "ReceivedMail"]

ENVELOPE_FROM: Final = "X-Vigie-Envelope-From"
"""Header line prepended to each file: the ``MAIL FROM`` address (``<>`` when null)."""
ENVELOPE_TO: Final = "X-Vigie-Envelope-To"
"""Header line prepended to each file, once per accepted ``RCPT TO`` address."""
HOSTNAME: Final = "vigie-lab-mail-sink"
"""Name in the greeting; fixed so that starting never waits on a DNS lookup (getfqdn)."""
_CLOSE_TIMEOUT: Final = 5.0
_NOT_STORED: Final = "451 4.3.0 could not store the message, try again later"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message, as written.

    Attributes:
        path: Its ``.eml`` file.
        mail_from: The ``MAIL FROM`` address (empty for the null sender).
        rcpt_tos: The accepted ``RCPT TO`` addresses (refused ones are not there).
        raw: The message's bytes as received (without the envelope lines).
        message: The file's bytes parsed (``policy=email.policy.default``, each CRLF
            read as LF), envelope lines included.
        received_at: When the sink accepted it (aware, UTC).
        login: The AUTH username the client gave, None without AUTH.
    """

    path: Path
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    received_at: datetime
    login: str | None


def _smtp_status(code: int, message: str) -> str:
    """``"451 4.3.0 try again later"``, refusing what would not be an SMTP error reply."""
    if not 400 <= code <= 599:
        raise ValueError(f"an SMTP error code is 4xx or 5xx, not {code}")
    if "\r" in message or "\n" in message:
        raise ValueError("an SMTP reply text is one line")
    return f"{code} {message}".rstrip()


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class _Handler:
    """aiosmtpd's hooks, kept apart so that the sink exposes no ``handle_``/``auth_`` names."""

    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self._sink.refusal_for(address)
        if refusal is not None:
            log.info("mail sink refused recipient %s: %s", address, refusal)
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        return await self._sink.deliver(
            envelope.mail_from or "",
            list(envelope.rcpt_tos),
            envelope.original_content or b"",
            login.decode("utf-8", "replace") if login is not None else None,
        )


class MailSink:
    """A running SMTP sink; made by :meth:`start`, stopped when its ``async with`` ends.

    Attributes:
        folder: Where the ``.eml`` files go.
        host: The loopback address it listens on.
        reject: Recipient address (compared case-insensitively) → ``(code, text)`` answered
            to its ``RCPT TO``, e.g. ``{"gone@example.com": (550, "5.1.1 no such user")}``.
            Change it at any time.
        received: Every accepted message, in order (live list).
    """

    def __init__(
        self,
        folder: Path,
        *,
        host: str,
        clock: Callable[[], datetime],
        credentials: tuple[str, str] | None,
        reject: Mapping[str, tuple[int, str]],
    ) -> None:
        self.folder = folder
        self.host = host
        self.reject: dict[str, tuple[int, str]] = dict(reject)
        self.received: list[ReceivedMail] = []
        self._clock = clock
        self._credentials = credentials
        self._failures: deque[str] = deque()
        self._counter = 0
        self._lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._port = 0

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        folder: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        reject: Mapping[str, tuple[int, str]] | None = None,
        now: Now = None,
    ) -> AsyncIterator[MailSink]:
        """Listen on ``host:port`` (0: any free port) until the block ends.

        Args:
            folder: Where to write the messages (made, mode 0700, if missing).
            host: A loopback address.
            port: The port, 0 for one the system picks (read :attr:`port`).
            username: With ``password``, AUTH LOGIN/PLAIN is required before ``MAIL FROM``.
            password: The one password accepted (never logged).
            tls_cert: With ``tls_key``, STARTTLS is offered with this certificate (PEM).
            tls_key: The certificate's private key (PEM).
            reject: Initial :attr:`reject`.
            now: The clock stamping file names (see :data:`~vigie_lab.startup.Now`).

        Raises:
            ValueError: A host not on loopback, only half of a pair of options, an empty
                password, a ``reject`` reply that is not 4xx/5xx.
            OSError: The certificate or key cannot be read (``ssl.SSLError``: not a pair).
            ListenFailed: The address and port cannot be listened on.
        """
        require_loopback("mail sink", host)
        if (username is None) != (password is None):
            raise ValueError("mail sink: give both username and password, or neither")
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("mail sink: give both tls_cert and tls_key, or neither")
        for code, text in (reject or {}).values():
            _smtp_status(code, text)
        if password == "":
            raise ValueError("mail sink: the password is empty")
        credentials = (username, password) if username is not None and password else None
        tls = _tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
        sink = cls(
            folder, host=host, clock=clock_of(now), credentials=credentials, reject=reject or {}
        )
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True, mode=0o700)
        await sink._listen(port, tls)
        try:
            yield sink
        finally:
            await sink.close()

    async def _listen(self, port: int, tls: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = {
            "hostname": HOSTNAME,
            "enable_SMTPUTF8": True,
            "loop": loop,
        }
        if tls is not None:
            options["tls_context"] = tls
        if self._credentials is not None:
            options["auth_required"] = True
            options["auth_require_tls"] = tls is not None
            options["authenticator"] = self._authenticate
        handler = _Handler(self)

        def session() -> SMTP:
            with warnings.catch_warnings():
                # aiosmtpd warns about AUTH without TLS: on loopback, for tests, it is the point.
                warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
                smtp = SMTP(handler, **options)
            self._sessions.add(smtp)
            return smtp

        try:
            self._server = await loop.create_server(session, self.host, port)
        except OSError as error:
            raise ListenFailed("mail sink", self.host, port, error.strerror or str(error)) from None
        self._port = self._server.sockets[0].getsockname()[1]
        auth = "AUTH required" if self._credentials else "no AUTH"
        tls_note = "STARTTLS offered" if tls else "no TLS"
        log.info(
            "mail sink on %s:%d (%s, %s), files in %s", *self.address, auth, tls_note, self.folder
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """Compare in constant time; log who failed, never what they typed as a password."""
        assert self._credentials is not None
        username, password = self._credentials
        good = isinstance(data, LoginPassword) and all(
            [
                hmac.compare_digest(data.login, username.encode("utf-8")),
                hmac.compare_digest(data.password, password.encode("utf-8")),
            ]
        )
        if not good:
            log.warning("mail sink: AUTH %s refused from %s", mechanism, session.peer)
        return AuthResult(success=good, handled=False, auth_data=data if good else None)

    @property
    def port(self) -> int:
        """The port it listens on (the one picked when started with 0)."""
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, for ``smtplib.SMTP(*sink.address)``."""
        return self.host, self._port

    @property
    def auth_required(self) -> bool:
        """Whether clients must AUTH before ``MAIL FROM``."""
        return self._credentials is not None

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed, in order: what a test usually reads."""
        return [mail.message for mail in self.received]

    def fail_next(self, n: int, code: int = 451, message: str = "4.3.0 try again later") -> None:
        """Answer ``code message`` at the end of ``DATA`` for the next ``n`` messages.

        Nothing is written for them. Calls queue up: ``fail_next(1, 451, …)`` then
        ``fail_next(1, 554, …)`` fails the next message with 451, the one after with 554.

        Raises:
            ValueError: ``n`` negative, ``code`` not 4xx/5xx, or a text on several lines.
        """
        if n < 0:
            raise ValueError("n must be 0 or more")
        self._failures.extend([_smtp_status(code, message)] * n)

    def refusal_for(self, address: str) -> str | None:
        """The reply :attr:`reject` sets for ``address``, None when it is to be accepted."""
        wanted = address.casefold()
        for rejected, (code, text) in self.reject.items():
            if rejected.casefold() == wanted:
                return _smtp_status(code, text)
        return None

    async def deliver(
        self, mail_from: str, rcpt_tos: list[str], raw: bytes, login: str | None
    ) -> str:
        """Write one message (or fail it, per :meth:`fail_next`); the reply to ``DATA``."""
        if self._failures:
            status = self._failures.popleft()
            log.info("mail sink failed a message on purpose: %s", status)
            return status
        envelope = [f"{ENVELOPE_FROM}: {mail_from or '<>'}"]
        envelope += [f"{ENVELOPE_TO}: {address}" for address in rcpt_tos]
        data = "".join(f"{line}\r\n" for line in envelope).encode("utf-8") + raw
        # Parsed with the line ends Python's email package works with, so that get_content()
        # gives "\n" as the notifier's templates wrote it; the file keeps the CRLFs received.
        parsed = email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)
        async with self._lock:  # one at a time: counter, file and list in the same order
            self._counter += 1
            counter = self._counter
            received_at = self._clock()
            label = safe_label(str(parsed.get("Message-ID", "")), "no-message-id")
            path = self.folder / ordered_name(received_at, counter, label, ".eml")
            try:
                await asyncio.to_thread(write_atomically, path, data)
            except OSError:
                log.exception("mail sink could not write %s", path.name)
                return _NOT_STORED
            self.received.append(
                ReceivedMail(
                    path=path,
                    mail_from=mail_from,
                    rcpt_tos=tuple(rcpt_tos),
                    raw=raw,
                    message=parsed,
                    received_at=received_at,
                    login=login,
                )
            )
        log.info("mail sink wrote %s (%d recipient(s))", path.name, len(rcpt_tos))
        return f"250 2.0.0 OK: queued as {counter:06d}"

    async def close(self) -> None:
        """Stop listening, drop the open sessions; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        sessions = list(self._sessions)
        for smtp in sessions:
            if smtp.transport is not None:
                smtp.transport.close()
        tasks = [s._handler_coroutine for s in sessions if s._handler_coroutine is not None]
        for task in tasks:
            task.cancel()
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(server.wait_closed())]
        waits += tasks
        await asyncio.wait(waits, timeout=_CLOSE_TIMEOUT)
