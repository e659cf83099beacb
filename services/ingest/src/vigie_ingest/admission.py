"""What a webhook must pass before it is stored: authentication, media type, JSON, schema, mapping.

Pure steps over bytes, headers and settings values (no framework): the edge reads the body
and calls them cheapest first. Each failure is an :class:`IngestError` naming what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pydantic_core
from pydantic import ValidationError
from vigie_common import signatures
from vigie_common.signatures import AuthenticationFailed

from vigie_ingest.errors import BodyNotJson, MediaTypeRefused, NotAuthenticated, PayloadInvalid
from vigie_ingest.sources.base import MappedTicket, MappingError, MappingOptions, Source

__all__ = ["Credentials", "authenticate", "check_media_type", "parse", "validation_errors"]

_UTF8 = frozenset({"utf-8", "utf8"})


@dataclass(frozen=True, slots=True)
class Credentials:
    """One source's active secrets and tokens, and the replay window."""

    secrets: Sequence[str]
    tokens: Sequence[str]
    tolerance_s: int


def authenticate(
    body: bytes, headers: Mapping[str, str], *, source: str, credentials: Credentials, now: float
) -> None:
    """Signature first, bearer token as the alternative; a source with neither is refused.

    Raises:
        NotAuthenticated: Nothing proves the body comes from ``source``.
    """
    signature = headers.get("x-vigie-signature")
    authorization = headers.get("authorization")
    if not credentials.secrets and not credentials.tokens:
        raise NotAuthenticated(f"source {source!r} has no webhook secret or token configured")
    try:
        if credentials.secrets and (
            signature is not None or not credentials.tokens or authorization is None
        ):
            signatures.verify(
                body, signature, credentials.secrets, now=now, tolerance_s=credentials.tolerance_s
            )
            return
        signatures.verify_bearer(authorization, credentials.tokens)
    except AuthenticationFailed as exc:
        raise NotAuthenticated(exc.reason) from None


def check_media_type(content_type: str | None) -> None:
    """JSON (``application/json`` or ``application/*+json``), in UTF-8 if a charset is given.

    Raises:
        MediaTypeRefused: Another media type, or a ``charset`` parameter other than UTF-8.
    """
    media, *params = (content_type or "").split(";")
    media = media.strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise MediaTypeRefused(
            f"content type {content_type or '(none)'!r} is not accepted; send application/json"
        )
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            raise MediaTypeRefused("only UTF-8 JSON is accepted (charset=utf-8)")


def parse(body: bytes, *, source: Source, mapping: MappingOptions) -> MappedTicket:
    """JSON, schema, then mapping; each failure names the field to fix.

    Raises:
        BodyNotJson: The body is not a JSON object.
        PayloadInvalid: It does not fit the source's contract or cannot be mapped.
    """
    try:
        data: Any = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise BodyNotJson(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BodyNotJson(f"the body must be a JSON object, not {type(data).__name__}")
    if b"\\u0000" in body:
        raise PayloadInvalid(
            "text fields must not contain NUL characters (\\u0000)",
            errors=[{"loc": "body", "msg": "NUL character", "type": "value_error"}],
        )
    try:
        payload = source.payload_model.model_validate(data)
    except ValidationError as exc:
        raise PayloadInvalid(
            f"{exc.error_count()} field(s) do not match the {source.name} contract",
            errors=validation_errors(exc),
        ) from exc
    try:
        mapped = source.to_ticket(payload, mapping)
    except ValidationError as exc:  # a mapped value broke a canonical rule (e.g. a date range)
        raise PayloadInvalid(
            f"{exc.error_count()} value(s) cannot be mapped to a ticket",
            errors=validation_errors(exc),
        ) from exc
    except MappingError as exc:
        loc = ".".join(map(str, exc.loc))
        raise PayloadInvalid(
            f"{loc}: {exc.msg}", errors=[{"loc": loc, "msg": exc.msg, "type": "mapping"}]
        ) from exc
    return replace(mapped, raw=data)  # the payload exactly as received, for the record


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """One entry per field: dotted location, message, error type (no input echoed back)."""
    return [
        {
            "loc": ".".join(str(p) for p in err["loc"]) or "body",
            "msg": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
