"""The sender's mail straight to the bytes SMTP carries: the message of ``build_message``.

:func:`~vigie_notifier.mailer.build_message` makes an ``EmailMessage``, which the mail edge
would then flatten: two passes of the ``email`` package, ~3 ms a mail, most of the sender's
time. :func:`build_mail` writes the same message directly: the same header fields (each
through :func:`~vigie_notifier.headers.single_line`, RFC 2047 words for what is not plain
ASCII, folded below 78 columns), the same checks (raising the same ``InvalidMessage``), and
the same parts (UTF-8, quoted-printable, so every line is 7-bit and short); the boundary
derives from the Message-ID and cannot occur in quoted-printable text (``=`` is always
encoded there). ``tests/notifier/test_mail_bytes.py`` parses both back and compares them on
hostile text.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Final

from vigie_notifier.delivery import Addressee, InvalidMessage, Mailbox
from vigie_notifier.headers import single_line
from vigie_notifier.mailer import ascii_address, check_mail

__all__ = ["OutgoingMail", "build_mail"]

_CRLF: Final = "\r\n"
_FOLD: Final = 76
_LINE: Final = 998
"""RFC 5322's limit of a line (78 is only advised)."""
_WORD: Final = 60
"""A longer run without a space is encoded, so that it can be folded."""


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """What the relay needs: the message's bytes (CRLF), the envelope, its Message-ID."""

    data: bytes
    recipients: tuple[str, ...]
    message_id: str


def _plain(value: str) -> bool:
    """Printable ASCII that folds as it is (no ``=?`` to decode, no word too long)."""
    return (
        value.isascii()
        and value.isprintable()
        and "=?" not in value
        and all(len(word) <= _WORD for word in value.split())
    )


def _encoded(value: str, name: str) -> str:
    """``value`` as RFC 2047 words of UTF-8, folded for the ``name`` field."""
    return Header(value, "utf-8", maxlinelen=_FOLD, header_name=name).encode(linesep=_CRLF)


def _text_header(name: str, value: str) -> str:
    """``Name: value``, RFC 2047 encoded when not plain ASCII, folded below 78 columns."""
    if not _plain(value):
        return f"{name}: {_encoded(value, name)}"
    if len(name) + 2 + len(value) <= _FOLD:
        return f"{name}: {value}"
    folded = Header(value, "us-ascii", maxlinelen=_FOLD, header_name=name).encode(linesep=_CRLF)
    return f"{name}: {folded}"


def _mailbox(person: Addressee, what: str) -> tuple[str, str]:
    """The header form of ``person`` (its name on one line) and its envelope address."""
    try:
        address = ascii_address(person.email)
    except ValueError:
        raise InvalidMessage(f"{what}: not a valid email address") from None
    name = single_line(person.name, missing="")
    if name.isascii() and name.isprintable() and "=?" not in name:
        return formataddr((name, address)), address
    # One encoded word (a display name split in several reads back with spaces added);
    # a look-alike encoded word is encoded too, so it reads back as written.
    word = Header(name, "utf-8", maxlinelen=_LINE).encode()
    return f"{word}{_CRLF} <{address}>", address


def _part(content_type: str, text: str) -> str:
    """One UTF-8 quoted-printable part, its lines split as the ``email`` package splits them.

    The last line has a line break of its own, as that package writes it.
    """
    lines = text.encode("utf-8").splitlines()
    body = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).decode("ascii")
    return (
        f'Content-Type: {content_type}; charset="utf-8"{_CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{_CRLF}{_CRLF}" + body.replace("\n", _CRLF)
    )


def build_mail(
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
) -> OutgoingMail:
    """``build_message``'s mail as bytes; the same arguments, the same refusals.

    Raises:
        InvalidMessage: No recipient, an invalid address or id, or a naive ``date``.
    """
    check_mail(recipients, message_id, thread_id, date)
    to: list[str] = []
    envelope: list[str] = []
    seen: set[str] = set()
    for index, person in enumerate(recipients, start=1):
        shown, address = _mailbox(person, f"recipient {index}")
        if address.casefold() not in seen:
            seen.add(address.casefold())
            to.append(shown)
            envelope.append(address)
    header = [
        _text_header("Subject", single_line(subject, missing="")),
        f"From: {_mailbox(sender, 'sender')[0]}",
        "To: " + f",{_CRLF} ".join(to),
    ]
    if reply_to is not None:
        header.append(f"Reply-To: {_mailbox(Mailbox(name='', email=reply_to), 'reply-to')[0]}")
    header += [f"Date: {format_datetime(date)}", f"Message-ID: {message_id}"]
    if thread_id is not None and thread_id != message_id:
        header += [f"In-Reply-To: {thread_id}", f"References: {thread_id}"]
    header += ["Auto-Submitted: auto-generated", "X-Auto-Response-Suppress: All"]
    header.append("MIME-Version: 1.0")
    if html is None:
        body = _part("text/plain", text)
    else:
        boundary = "=_vigie_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
        header.append(f'Content-Type: multipart/alternative;{_CRLF} boundary="{boundary}"')
        # The line break before each delimiter is the delimiter's (RFC 2046).
        body = (
            f"{_CRLF}--{boundary}{_CRLF}{_part('text/plain', text)}"
            f"{_CRLF}--{boundary}{_CRLF}{_part('text/html', html)}"
            f"{_CRLF}--{boundary}--{_CRLF}"
        )
    data = (_CRLF.join(header) + _CRLF + body).encode("ascii")
    return OutgoingMail(data=data, recipients=tuple(envelope), message_id=message_id)
