"""The mail edge's message: the relay's settings and a rendered notification as a mail.

:func:`build_message` makes the customer's mail (text and HTML alternatives, the ticket's
thread, ``Auto-Submitted``); every header field goes through
:func:`~vigie_notifier.headers.single_line` first, so a CR/LF in a name or a subject cannot
start a header of its own. :mod:`vigie_notifier.smtp_relay` hands it to the relay and turns
what went wrong into :class:`~vigie_notifier.delivery.DeliveryFailed`:

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

import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address, AddressHeader
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    field_validator,
    model_validator,
)

from vigie_notifier.delivery import (
    Addressee,
    InvalidMessage,
    Mailbox,
)
from vigie_notifier.headers import single_line
from vigie_notifier.recipients import check_email

__all__ = [
    "MailSettings",
    "Security",
    "ascii_address",
    "build_message",
    "check_mail",
    "check_message_id",
    "envelope_recipients",
    "message_id_for",
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
        return ascii_address(value)

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


def ascii_address(value: str) -> str:
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


def check_message_id(value: str, what: str) -> str:
    """``value`` if it is a ``<left@right>`` id a header can carry, else InvalidMessage."""
    if len(value) > _MESSAGE_ID_LIMIT or not _MESSAGE_ID.fullmatch(value):
        raise InvalidMessage(f"{what} {single_line(value)!r} is not <left@right>")
    return value


def _address(person: Addressee, what: str) -> Address:
    """A header address; the name folded to one line, so it cannot open a header."""
    try:
        addr_spec = ascii_address(person.email)
    except ValueError:
        raise InvalidMessage(f"{what}: not a valid email address") from None
    return Address(display_name=single_line(person.name, missing=""), addr_spec=addr_spec)


def check_mail(
    recipients: Sequence[Addressee], message_id: str, thread_id: str | None, date: datetime
) -> None:
    """What every mail needs: a recipient, a zoned date, ids a header can carry.

    Raises:
        InvalidMessage: The first of these missing.
    """
    if not recipients:
        raise InvalidMessage("no recipient")
    if date.tzinfo is None or date.utcoffset() is None:
        raise InvalidMessage("the date is naive: its zone is unknown")
    check_message_id(message_id, "Message-ID")
    if thread_id is not None:
        check_message_id(thread_id, "thread id")


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
    check_mail(recipients, message_id, thread_id, date)
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
