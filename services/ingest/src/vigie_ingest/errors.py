"""Ingest's errors; each maps to one HTTP status with an RFC 9457 problem+json body.

Tree::

    IngestError
    ├── Unauthorized          401  missing or wrong signature / token, stale timestamp
    ├── NotFound              404  unknown source, unknown ticket
    ├── InvalidJson           400  the body is not JSON (or not a JSON object)
    ├── PayloadTooLarge       413  the body is over the limit
    ├── UnsupportedMediaType  415  the content type is not JSON
    └── InvalidPayload        422  JSON that does not fit the source's schema; lists each field
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "IngestError",
    "InvalidJson",
    "InvalidPayload",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "UnsupportedMediaType",
]


class IngestError(Exception):
    """Base: ``status`` and ``title`` make the problem document, ``detail`` says what to fix."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


class Unauthorized(IngestError):
    """The request is not proven to come from the source (nothing is stored)."""

    status = 401
    title = "Unauthorized"


class NotFound(IngestError):
    """No such source or ticket."""

    status = 404
    title = "Not found"


class InvalidJson(IngestError):
    """The body cannot be parsed as a JSON object."""

    status = 400
    title = "Invalid JSON"


class PayloadTooLarge(IngestError):
    """The body is over ``max_body_bytes``."""

    status = 413
    title = "Payload too large"


class UnsupportedMediaType(IngestError):
    """The content type is not ``application/json``."""

    status = 415
    title = "Unsupported media type"


class InvalidPayload(IngestError):
    """Valid JSON that does not fit the source's contract; ``errors`` lists each field."""

    status = 422
    title = "Invalid payload"
