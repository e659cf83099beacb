"""Speaking SMTP to the relay: connections kept open between mails, failures classified.

:class:`SmtpRelay` keeps up to ``max_idle`` connections open after a mail went through, so
the next mail skips the TCP handshake, the greeting, EHLO, STARTTLS and AUTH; a connection
idle longer than ``idle_s`` is dropped rather than reused (relays close idle sessions). A
reused connection that turns out closed when the next mail starts (``MAIL FROM`` not
answered) is replaced by a new one at once: nothing of that mail reached the relay, so
trying again cannot duplicate it. Any other failure closes the connection it happened on.

What went wrong becomes :class:`~vigie_notifier.delivery.DeliveryFailed` as the table of
:mod:`vigie_notifier.mailer` says. :func:`send_mail` is one mail on one connection, QUIT
after it.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from typing import Final

import aiosmtplib
from aiosmtplib.email import flatten_message
from vigie_common.events.notices import Channel

from vigie_notifier.delivery import Delivered, DeliveryFailed, InvalidMessage, Refusal, clean_reason
from vigie_notifier.mail_bytes import OutgoingMail
from vigie_notifier.mailer import MailSettings, envelope_recipients

__all__ = ["SmtpRelay", "send_mail"]

IDLE_S: Final = 20.0
"""Seconds a connection may wait for its next mail: below the usual relay idle limits."""


def _tls_context(settings: MailSettings) -> ssl.SSLContext:
    """The system's trust store, or the private relay's CA file; checks off if told so."""
    context = ssl.create_default_context(
        cafile=str(settings.ca_file) if settings.ca_file is not None else None
    )
    if not settings.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _secrets(settings: MailSettings) -> list[str]:
    """The password and the forms AUTH PLAIN and LOGIN send it in, to mask in reasons."""
    if settings.password is None:
        return []
    password = settings.password.get_secret_value()
    user = settings.username or ""
    plain = f"\0{user}\0{password}".encode()
    return [
        password,
        base64.b64encode(plain).decode("ascii"),
        base64.b64encode(password.encode()).decode("ascii"),
    ]


def _reply(code: int, message: str) -> str:
    return f"{code} {message}"


def _failure(exc: Exception, secrets: Iterable[str]) -> DeliveryFailed:
    """What went wrong, classified: 5xx permanent, everything else worth another try."""
    secrets = list(secrets)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        replies = "; ".join(_reply(r.code, r.message) for r in exc.recipients)
        permanent = all(500 <= code < 600 for code in codes)
        reason = f"all {len(codes)} recipients refused: {replies}"
        return DeliveryFailed(
            clean_reason(reason, secrets=secrets), permanent, code=max(codes, default=None)
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        step = {
            aiosmtplib.SMTPAuthenticationError: "authentication refused",
            aiosmtplib.SMTPSenderRefused: "sender refused",
            aiosmtplib.SMTPDataError: "message refused",
            aiosmtplib.SMTPHeloError: "EHLO refused",
            aiosmtplib.SMTPConnectResponseError: "greeting refused",
        }.get(type(exc), "relay replied")
        reason = clean_reason(f"{step}: {_reply(exc.code, exc.message)}", secrets=secrets)
        return DeliveryFailed(reason, 500 <= exc.code < 600, code=exc.code)
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors
        return DeliveryFailed(clean_reason(f"timed out: {exc}", secrets=secrets), False)
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(
        exc.__cause__, ssl.SSLCertVerificationError
    ):
        cause = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        reason = f"TLS certificate verification failed: {cause}"
        return DeliveryFailed(clean_reason(reason, secrets=secrets), False)
    if isinstance(exc, aiosmtplib.SMTPException):
        return DeliveryFailed(clean_reason(exc.message, secrets=secrets), False)
    return DeliveryFailed(clean_reason(f"{type(exc).__name__}: {exc}", secrets=secrets), False)


class _Stale(Exception):
    """A kept connection did not answer ``MAIL FROM``: the relay closed it meanwhile."""


class SmtpRelay:
    """The relay of ``settings``, with connections kept between mails (none if max_idle=0).

    Safe to share between concurrent sends: each takes a connection of its own.
    """

    def __init__(
        self,
        settings: MailSettings,
        *,
        max_idle: int = 20,
        idle_s: float = IDLE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.max_idle = max_idle
        self.idle_s = idle_s
        self._monotonic = monotonic
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._secrets = _secrets(settings)
        self._tls: ssl.SSLContext | None = None
        self.connections = 0
        """Connections opened so far (the bench and the tests read it)."""

    async def send(self, message: EmailMessage) -> Delivered:
        """Hand ``message`` to the relay, from ``settings.from_address`` to its ``To``.

        Raises:
            DeliveryFailed: Not delivered; ``permanent`` as the mailer's table says.
            InvalidMessage: No ``To`` address, no ``Message-ID``, or one SMTP cannot carry.
        """
        recipients = envelope_recipients(message)
        if not recipients:
            raise InvalidMessage("the message has no To address")
        message_id = str(message.get("Message-ID", ""))
        if not message_id:
            raise InvalidMessage("the message has no Message-ID")
        data = flatten_message(message, cte_type="7bit")
        return await self.deliver(OutgoingMail(data, tuple(recipients), message_id))

    async def deliver(self, mail: OutgoingMail) -> Delivered:
        """Hand a mail already in bytes (:func:`~vigie_notifier.mail_bytes.build_mail`).

        Raises:
            DeliveryFailed: Not delivered; ``permanent`` as the mailer's table says.
            InvalidMessage: An address SMTP cannot carry.
        """
        recipients, data, message_id = mail.recipients, mail.data, mail.message_id
        client = self._kept()
        try:
            if client is not None:
                try:
                    errors, response = await self._transaction(client, recipients, data, True)
                except _Stale:
                    client.close()
                    client = None
            if client is None:
                client = await self._connect()
                errors, response = await self._transaction(client, recipients, data, False)
        except (aiosmtplib.SMTPException, OSError) as exc:  # before ValueError: SSL errors
            if client is not None:
                client.close()
            raise _failure(exc, self._secrets) from exc
        except ValueError as exc:  # an address aiosmtplib will not put on a command line
            if client is not None:
                client.close()
            raise InvalidMessage(clean_reason(str(exc), secrets=self._secrets)) from exc
        except BaseException:  # cancelled mid-mail: that session is unusable
            if client is not None:
                client.close()
            raise
        await self._keep(client)
        refused = tuple(
            Refusal(
                address=address,
                code=reply.code,
                reason=clean_reason(_reply(reply.code, reply.message), secrets=self._secrets),
            )
            for address, reply in errors.items()
        )
        return Delivered(
            channel=Channel.MAIL,
            id=message_id,
            response=clean_reason(response, secrets=self._secrets),
            refused=refused,
        )

    async def close(self) -> None:
        """QUIT every kept connection."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client, _ in idle))

    def _kept(self) -> aiosmtplib.SMTP | None:
        """The most recently used kept connection still fresh enough; older ones are closed."""
        now = self._monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if now - since <= self.idle_s and client.is_connected:
                return client
            client.close()
        return None

    async def _keep(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.max_idle and client.is_connected:
            self._idle.append((client, self._monotonic()))
        else:
            await _quit(client)

    async def _connect(self) -> aiosmtplib.SMTP:
        settings = self.settings
        if self._tls is None and settings.security != "none":
            try:
                self._tls = await asyncio.to_thread(_tls_context, settings)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise DeliveryFailed(clean_reason(f"TLS set-up failed: {exc}"), False) from exc
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.effective_port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            local_hostname=settings.local_hostname,
            timeout=settings.timeout,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",  # False for "none": no opportunistic
            tls_context=self._tls,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        self.connections += 1
        return client

    async def _transaction(
        self, client: aiosmtplib.SMTP, recipients: Sequence[str], data: bytes, kept: bool
    ) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
        """MAIL, RCPT for each, DATA: the recipients refused (some) and the DATA reply."""
        try:
            await client.mail(self.settings.from_address)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
            if kept:
                raise _Stale from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if kept and exc.code == 421:  # the relay is closing that session
                raise _Stale from exc
            raise
        refused: dict[str, aiosmtplib.SMTPResponse] = {}
        errors: list[aiosmtplib.SMTPRecipientRefused] = []
        for recipient in recipients:
            try:
                await client.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused[recipient] = aiosmtplib.SMTPResponse(exc.code, exc.message)
                errors.append(exc)
        if len(errors) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(errors)
        response = await client.data(data)
        return refused, response.message


async def send_mail(message: EmailMessage, settings: MailSettings) -> Delivered:
    """One mail on a connection of its own, QUIT after it (the relay keeps nothing).

    Raises:
        DeliveryFailed: Not delivered; ``permanent`` as the mailer's table says.
        InvalidMessage: No ``To`` address, no ``Message-ID``, or one SMTP cannot carry.
    """
    relay = SmtpRelay(settings, max_idle=0)
    try:
        return await relay.send(message)
    finally:
        await relay.close()


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say goodbye; the message is already accepted, so a failure here changes nothing."""
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()
