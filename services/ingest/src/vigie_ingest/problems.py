"""RFC 9457 problem responses: the one table from a condition to its HTTP status."""

from __future__ import annotations

from typing import Any, Final

from fastapi.responses import JSONResponse
from vigie_common.access import ReadDenied

from vigie_ingest.errors import (
    BodyNotJson,
    BodyTooLarge,
    DeadEventNotFound,
    IngestError,
    MediaTypeRefused,
    NotAuthenticated,
    PayloadInvalid,
    StorageUnavailable,
    TicketNotFound,
)

PROBLEM_JSON: Final = "application/problem+json"

STATUS: Final[dict[type[IngestError], tuple[int, str]]] = {
    NotAuthenticated: (401, "Unauthorized"),
    BodyTooLarge: (413, "Payload too large"),
    MediaTypeRefused: (415, "Unsupported media type"),
    BodyNotJson: (400, "Invalid JSON"),
    PayloadInvalid: (422, "Invalid payload"),
    TicketNotFound: (404, "Not found"),
    DeadEventNotFound: (404, "Not found"),
    StorageUnavailable: (503, "Service unavailable"),
}
"""Every ingest condition and how HTTP says it."""

_READ_TITLES: Final = {401: "Unauthorized", 403: "Forbidden"}


def status_of(error: IngestError) -> int:
    """The HTTP status of ``error``."""
    return STATUS[type(error)][0]


def problem(
    status: int, title: str, detail: str, *, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A problem+json answer; 401 says how to authenticate, 503 when to retry."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if errors:
        body["errors"] = errors
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vigie"'
    if status == 503:
        headers["Retry-After"] = "5"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_response(error: IngestError) -> JSONResponse:
    """The answer to an ingest condition."""
    status, title = STATUS[type(error)]
    return problem(status, title, error.reason, errors=error.errors)


def read_denied_response(error: ReadDenied) -> JSONResponse:
    """The answer to a read without the right token (401) or with reads disabled (403)."""
    return problem(error.status, _READ_TITLES.get(error.status, "Forbidden"), error.reason)
