"""What a delivery edge (mail, SMS) hands back to the sender task, and how it says no.

An edge either returns :class:`Delivered` (the server took the message; the sender marks the
row ``sent``) or raises :class:`DeliveryFailed`, whose ``permanent`` flag is the only decision
the sender has to make: transient, try again later; permanent, record it as failed. The edges
never touch the database, so everything the sender records is carried here.

Reasons end up in ``Notification.last_error`` and in ``vigie.notification.failed.v1`` events
("one line, no address"): :func:`clean_reason` folds them to one bounded line, masks secrets
and replaces email addresses, whatever a server chose to echo.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from vigie_common.events.notices import Channel

from vigie_notifier.headers import single_line

__all__ = [
    "REASON_LIMIT",
    "Addressee",
    "Delivered",
    "DeliveryFailed",
    "InvalidMessage",
    "Mailbox",
    "Refusal",
    "clean_reason",
]

REASON_LIMIT: Final = 300
"""Characters a reason keeps: enough for a server's reply, short enough for a log line."""

_EMAIL: Final = re.compile(r"<?[^\s<>()\[\]\"',;:@]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+>?")
_MASK: Final = "***"


class Addressee(Protocol):
    """Anyone with a name and an email: a ``Recipient``, a :class:`Mailbox`, the sender."""

    @property
    def name(self) -> str:
        """Display name; may be empty."""
        ...

    @property
    def email(self) -> str:
        """The address, ``local@domain``."""
        ...


@dataclass(frozen=True)
class Mailbox:
    """A plain name and address, for the sender and for callers without a ``Recipient``."""

    name: str
    email: str


@dataclass(frozen=True)
class Refusal:
    """A recipient the server refused while it accepted the message for others."""

    address: str
    code: int
    reason: str
    """The server's reply, cleaned like any reason (so without the address itself)."""

    @property
    def permanent(self) -> bool:
        """A 5xx refusal; a 4xx one may go through if that address alone is tried again."""
        return 500 <= self.code < 600


@dataclass(frozen=True)
class Delivered:
    """The server took the message: what the sender records on its row.

    ``id`` is the mail's Message-ID, or the id the SMS gateway gave. ``refused`` lists the
    mail recipients refused while others were accepted (the message is not sent again for
    them: that would duplicate it for the accepted ones). ``duplicate`` says the SMS gateway
    already had this reference and answered with its first id (a retry after a lost answer).
    """

    channel: Channel
    id: str
    response: str
    refused: tuple[Refusal, ...] = ()
    duplicate: bool = False
    segments: int | None = None
    """SMS parts the operator bills; None for a mail."""


class DeliveryFailed(Exception):
    """The message was not delivered; ``permanent`` says whether trying again can help.

    Attributes:
        reason: One line, at most :data:`REASON_LIMIT` characters, no secret.
        permanent: True when the server refused it for good (5xx, 4xx from the SMS gateway,
            an invalid message); False when a later attempt may succeed.
        code: The SMTP reply code or HTTP status, when there was one.
        retry_after: Seconds the server asked us to wait (HTTP ``Retry-After``), if any.
    """

    def __init__(
        self,
        reason: str,
        permanent: bool,
        *,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.reason = clean_reason(reason)
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after
        super().__init__(self.reason)


class InvalidMessage(DeliveryFailed, ValueError):
    """The message itself cannot be sent (bad address, number, id): permanent, never sent.

    A ``ValueError`` too, so a builder's caller may treat it as bad input.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, True)


def clean_reason(text: str, *, secrets: Iterable[str] = (), limit: int = REASON_LIMIT) -> str:
    """``text`` as one line of at most ``limit`` characters, secrets masked, addresses hidden.

    Secrets are masked before and after folding (a secret with a line break or a double
    space would otherwise slip through), then email addresses become ``<address>``.
    """
    forms = {
        form for secret in secrets if secret for form in (secret, single_line(secret, missing=""))
    }
    ordered = sorted((form for form in forms if form), key=len, reverse=True)
    for secret in ordered:
        text = text.replace(secret, _MASK)
    line = single_line(text, missing="(no detail)")
    for secret in ordered:
        line = line.replace(secret, _MASK)
    line = _EMAIL.sub("<address>", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"
