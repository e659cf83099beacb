"""Ingest's errors, named for the condition; the HTTP edge maps each to a status in one table.

Tree::

    IngestError
    ├── NotAuthenticated    the webhook is not proven to come from its source (nothing stored)
    ├── BodyTooLarge        the body is over the configured limit (nothing stored)
    ├── MediaTypeRefused    the content type is not UTF-8 JSON
    ├── BodyNotJson         the body is not a JSON object
    ├── PayloadInvalid      JSON that does not fit the source's contract; ``errors`` lists fields
    ├── TicketNotFound      no ticket with that id
    ├── DeadEventNotFound   no set-aside outbox event with that id
    └── StorageUnavailable  the database did not take the ticket; the sender retries

The statuses live in :mod:`vigie_ingest.problems`, not here: the same condition could be
reported another way by another edge.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "BodyNotJson",
    "BodyTooLarge",
    "DeadEventNotFound",
    "IngestError",
    "MediaTypeRefused",
    "NotAuthenticated",
    "PayloadInvalid",
    "StorageUnavailable",
    "TicketNotFound",
]

MAX_FIELD_ERRORS: Final = 100
"""Field errors kept per refusal: a body with 100,000 bad keys must not make a huge answer."""
MAX_ERROR_TEXT: Final = 300
"""Characters kept of one error's location or message (a key can be a megabyte long)."""


def bounded(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` cut to ``limit`` characters, saying so when it was cut."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def bounded_errors(errors: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """At most :data:`MAX_FIELD_ERRORS` entries, each value a short string."""
    return [
        {key: bounded(str(value)) for key, value in error.items()}
        for error in (errors or [])[:MAX_FIELD_ERRORS]
    ]


class IngestError(Exception):
    """Base: ``reason`` says what to fix; ``errors`` lists field errors (bounded)."""

    def __init__(self, reason: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = bounded(reason, 2000)
        self.errors = bounded_errors(errors)


class NotAuthenticated(IngestError):
    """Signature or bearer token missing, malformed, stale or wrong."""


class BodyTooLarge(IngestError):
    """The body is over ``max_body_bytes``."""


class MediaTypeRefused(IngestError):
    """The content type is not JSON, or its charset is not UTF-8."""


class BodyNotJson(IngestError):
    """The body cannot be parsed as a JSON object."""


class PayloadInvalid(IngestError):
    """Valid JSON that does not fit the source's contract."""


class TicketNotFound(IngestError):
    """No ticket with that id."""


class DeadEventNotFound(IngestError):
    """No set-aside outbox event with that id."""


class StorageUnavailable(IngestError):
    """The database is away: nothing was accepted, the sender must retry."""
