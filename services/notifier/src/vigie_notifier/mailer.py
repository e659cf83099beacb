"""The mail edge: build a rendered notification into a message, and hand it to the SMTP relay.

:func:`build_message` makes the customer's mail (text and HTML alternatives, the ticket's
thread, ``Auto-Submitted``); every header field goes through
:func:`~vigie_notifier.headers.single_line` first, so a CR/LF in a name or a subject cannot
start a header of its own. :func:`send_mail` speaks to the relay and turns what went wrong
into :class:`~vigie_notifier.delivery.DeliveryFailed`:

============================================================  =========
what happened                                                 permanent
============================================================  =========
a 5xx reply: greeting, EHLO, AUTH (535), MAIL, DATA           yes
every recipient refused, all with 5xx                         yes
an invalid message (address, Message-ID, naive date)          yes
a 4xx reply (421, 451, 452…), or recipients refused with 4xx  no
refused, unreachable, disconnected, timed out, TLS failure    no
the relay lacks STARTTLS or AUTH (a config or a downgrade)    no
============================================================  =========

Some recipients refused while others were accepted is a delivery: the refused ones are in
:attr:`Delivered.refused <vigie_notifier.delivery.Delivered.refused>` (sending again would
duplicate the mail for the others). A timeout after the message was sent is transient too:
the retry may duplicate the mail, which carries the same Message-ID, rather than lose it.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import Iterable, Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address, AddressHeader
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Final, Literal

import aiosmtplib
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    field_validator,
    model_validator,
)
from vigie_common.events.notices import Channel

from vigie_notifier.delivery import (
    Addressee,
    Delivered,
    DeliveryFailed,
    InvalidMessage,
    Mailbox,
    Refusal,
    clean_reason,
)
from vigie_notifier.headers import single_line
from vigie_notifier.recipients import check_email

__all__ = [
    "MailSettings",
    "Security",
    "build_message",
    "envelope_recipients",
    "message_id_for",
    "send_mail",
]

Security = Literal["none", "starttls", "tls"]
"""``none``: plain SMTP; ``starttls``: upgrade required; ``tls``: implicit TLS (465)."""

DEFAULT_PORTS: Final[dict[Security, int]] = {"none": 25, "starttls": 587, "tls": 465}
_HOSTNAME: Final = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_KEY: Final = re.compile(r"(?=.{1,128}\Z)[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_ATOMS: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_MESSAGE_ID: Final = re.compile(rf"<{_ATOMS}@{_ATOMS}>")
_MESSAGE_ID_LIMIT: Final = 300  # Notification.message_id is a String(300)


class MailSettings(BaseModel):
    """How to reach the relay and who the mail is from; the service's settings build it."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    host: str = Field(min_length=1, description="The relay's name or IP address")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="None: 25, 587 or 465 as security says"
    )
    security: Security = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str
    from_name: str = Field(default="", description="e.g. Service Client Réseau")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per SMTP step")
    ca_file: FilePath | None = Field(
        default=None, description="PEM CA bundle of a private relay, instead of the system's"
    )
    validate_certs: bool = True
    local_hostname: str | None = Field(
        default=None, description="Name given in EHLO; None asks the system (getfqdn)"
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value != value.strip() or any(char.isspace() or char in "/@" for char in value):
            raise ValueError(f"{value!r} is not a host name or address")
        return value

    @field_validator("local_hostname")
    @classmethod
    def _local_hostname(cls, value: str | None) -> str | None:
        if value is not None and not _HOSTNAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a host name")
        return value

    @field_validator("from_address")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return _ascii_address(value)

    @field_validator("from_name")
    @classmethod
    def _from_name(cls, value: str) -> str:
        return single_line(value, missing="")

    @model_validator(mode="after")
    def _credentials(self) -> MailSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    @property
    def sender(self) -> Mailbox:
        """The ``From`` of every mail: the configured name and address."""
        return Mailbox(name=self.from_name, email=self.from_address)

    @property
    def effective_port(self) -> int:
        """The port configured, or the usual one for the security chosen."""
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]


def _ascii_address(value: str) -> str:
    """A checked address with its domain in IDNA, so the envelope needs no SMTPUTF8.

    Raises:
        ValueError: Not an address a header or an SMTP command can carry.
    """
    local, _, domain = check_email(value).rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def message_id_for(key: str, domain: str) -> str:
    """``<key@domain>``: the same send always gets the same Message-ID, so retries thread.

    ``key`` is the send's hexadecimal idempotency key, or a prefixed one (``ticket-<hex>``
    for a ticket's thread): letters, digits, ``-``, ``_`` and inner dots, 128 at most.

    Raises:
        ValueError: ``key`` has other characters, or ``domain`` is not a host name.
    """
    if not _KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not a key for a Message-ID")
    if not _HOSTNAME.fullmatch(domain) or domain.endswith("."):
        raise ValueError(f"{domain!r} is not a domain for a Message-ID")
    return f"<{key}@{domain}>"


def _check_message_id(value: str, what: str) -> str:
    if len(value) > _MESSAGE_ID_LIMIT or not _MESSAGE_ID.fullmatch(value):
        raise InvalidMessage(f"{what} {single_line(value)!r} is not <left@right>")
    return value


def _address(person: Addressee, what: str) -> Address:
    """A header address; the name folded to one line, so it cannot open a header."""
    try:
        addr_spec = _ascii_address(person.email)
    except ValueError:
        raise InvalidMessage(f"{what}: not a valid email address") from None
    return Address(display_name=single_line(person.name, missing=""), addr_spec=addr_spec)


def build_message(
    *,
    subject: str,
    text: str,
    html: str | None,
    sender: Addressee,
    recipients: Sequence[Addressee],
    message_id: str,
    thread_id: str | None,
    date: datetime,
    reply_to: str | None = None,
) -> EmailMessage:
    """The customer's mail: text and HTML alternatives in UTF-8, threaded under the ticket.

    ``message_id`` is used as given (see :func:`message_id_for`); ``thread_id`` is the
    Message-ID of the ticket's first mail, set as ``In-Reply-To`` and ``References`` unless
    this is that first mail. Recipients are all in ``To`` (a repeated address once).

    Raises:
        InvalidMessage: No recipient, an invalid address or id, or a naive ``date``.
    """
    if not recipients:
        raise InvalidMessage("no recipient")
    if date.tzinfo is None or date.utcoffset() is None:
        raise InvalidMessage("the date is naive: its zone is unknown")
    _check_message_id(message_id, "Message-ID")
    if thread_id is not None:
        _check_message_id(thread_id, "thread id")
    to: list[Address] = []
    seen: set[str] = set()
    for index, person in enumerate(recipients, start=1):
        address = _address(person, f"recipient {index}")
        if address.addr_spec.casefold() not in seen:
            seen.add(address.addr_spec.casefold())
            to.append(address)

    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = single_line(subject, missing="")
    message["From"] = _address(sender, "sender")
    message["To"] = to
    if reply_to is not None:
        message["Reply-To"] = _address(Mailbox(name="", email=reply_to), "reply-to")
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if thread_id is not None and thread_id != message_id:
        message["In-Reply-To"] = thread_id
        message["References"] = thread_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to us
    message["X-Auto-Response-Suppress"] = "All"  # the same, for Exchange
    # Quoted-printable keeps every line short and 7-bit, whatever the relay supports.
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def envelope_recipients(message: EmailMessage) -> list[str]:
    """The addresses of the ``To`` header (not Cc nor Bcc: the builder sets only To)."""
    found: list[str] = []
    for header in message.get_all("To", []):
        if isinstance(header, AddressHeader):
            found.extend(address.addr_spec for address in header.addresses)
        else:
            found.extend(addr for _, addr in getaddresses([str(header)]) if addr)
    return list(dict.fromkeys(found))


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


async def send_mail(message: EmailMessage, settings: MailSettings) -> Delivered:
    """Hand ``message`` to the relay: STARTTLS or TLS and AUTH as configured.

    The envelope is from ``settings.from_address`` to the ``To`` addresses. A refused
    recipient among accepted ones does not fail the send: see ``Delivered.refused``.

    Raises:
        DeliveryFailed: Not delivered; ``permanent`` as the module's table says.
        InvalidMessage: No ``To`` address, no ``Message-ID``, or one SMTP cannot carry.
    """
    recipients = envelope_recipients(message)
    if not recipients:
        raise InvalidMessage("the message has no To address")
    message_id = str(message.get("Message-ID", ""))
    if not message_id:
        raise InvalidMessage("the message has no Message-ID")
    secrets = _secrets(settings)
    try:
        tls_context = (
            None if settings.security == "none" else await asyncio.to_thread(_tls_context, settings)
        )
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise DeliveryFailed(clean_reason(f"TLS set-up failed: {exc}"), False) from exc
    password = settings.password.get_secret_value() if settings.password else None
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.effective_port,
        username=settings.username,
        password=password,
        local_hostname=settings.local_hostname,
        timeout=settings.timeout,
        use_tls=settings.security == "tls",
        start_tls=settings.security == "starttls",  # False for "none": no opportunistic TLS
        tls_context=tls_context,
    )
    sent = False
    try:
        await client.connect()
        errors, response = await client.send_message(
            message, sender=settings.from_address, recipients=recipients
        )
        sent = True
    except (aiosmtplib.SMTPException, OSError) as exc:  # before ValueError: SSL errors are both
        raise _failure(exc, secrets) from exc
    except ValueError as exc:  # an address aiosmtplib will not put on a command line
        raise InvalidMessage(clean_reason(str(exc), secrets=secrets)) from exc
    finally:
        if not sent:  # failed or cancelled: drop the connection, no QUIT
            client.close()
    await _quit(client)
    refused = tuple(
        Refusal(
            address=address,
            code=reply.code,
            reason=clean_reason(_reply(reply.code, reply.message), secrets=secrets),
        )
        for address, reply in errors.items()
    )
    return Delivered(
        channel=Channel.MAIL,
        id=message_id,
        response=clean_reason(response, secrets=secrets),
        refused=refused,
    )


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say goodbye; the message is already accepted, so a failure here changes nothing."""
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()
