"""The ticket sources registry and the helpers every source mapper shares."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pydantic_core

from vigie_ingest.sources.base import Source

__all__ = ["default_sources", "parse_local", "payload_digest"]


def payload_digest(raw: dict[str, Any]) -> str:
    """SHA-256 of a payload's canonical JSON: sorted keys, no whitespace, ASCII escapes.

    Two payloads with the same content give the same digest whatever their key order or
    spacing on the wire, so a re-sent webhook is recognised as the same version. Non-ASCII
    characters are escaped, so even a lone surrogate from the wire hashes cleanly.

    Args:
        raw: The payload as a JSON-compatible dict.

    Returns:
        The lowercase hex digest (64 characters).
    """
    try:
        text = pydantic_core.to_json(_sorted(raw))  # compact; much faster than json.dumps
    except pydantic_core.PydanticSerializationError:  # e.g. a lone surrogate
        text = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(text).hexdigest()


def _sorted(value: Any) -> Any:
    """The same JSON value with every object's keys in order."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def parse_local(text: str, fmt: str, tz: ZoneInfo) -> datetime:
    """Read a wall-clock time in ``tz`` written as ``fmt`` and return the instant, in UTC.

    DST edges follow PEP 495 with ``fold=0``:

    * an ambiguous time (autumn fold, e.g. 02:30 on 2025-10-26 in Europe/Paris) takes its
      **first** occurrence (00:30 UTC, still on summer time);
    * a nonexistent time (spring gap, e.g. 02:30 on 2025-03-30 in Europe/Paris) is read with
      the offset in force before the jump, which moves it **forward by the gap**
      (01:30 UTC, i.e. 03:30 local summer time).

    Args:
        text: The wall-clock time; surrounding blanks are ignored.
        fmt: Its :func:`datetime.strptime` format, without a zone.
        tz: The zone the wall clock belongs to.

    Returns:
        An aware datetime in UTC.

    Raises:
        ValueError: When ``text`` does not match ``fmt``, is not a real calendar date, or
            falls outside what a datetime holds once in UTC.
    """
    text = text.strip()
    fast = _FAST_FORMATS.get(fmt)
    match = fast.fullmatch(text) if fast else None
    if match is None:  # strptime is ~10x slower, but takes every spelling of ``fmt``
        wall = datetime.strptime(text, fmt).replace(tzinfo=tz, fold=0)
    else:
        parts = match.groupdict()
        wall = datetime(
            int(parts["Y"]),
            int(parts["m"]),
            int(parts["d"]),
            int(parts["H"]),
            int(parts["M"]),
            int(parts.get("S") or 0),
            tzinfo=tz,
            fold=0,
        )
    try:
        return wall.astimezone(UTC)
    except OverflowError:  # year 9999 in a zone west of UTC: past datetime.max once in UTC
        raise ValueError(f"{text!r} is out of the representable range") from None


_FAST_FORMATS: dict[str, re.Pattern[str]] = {
    "%d/%m/%Y %H:%M": re.compile(
        r"(?P<d>\d{2})/(?P<m>\d{2})/(?P<Y>\d{4}) (?P<H>\d{2}):(?P<M>\d{2})"
    ),
    "%Y-%m-%d %H:%M:%S": re.compile(
        r"(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2}) (?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})"
    ),
}
"""The formats upstream tools write, parsed without strptime (the common case)."""


def default_sources() -> dict[str, Source]:
    """Build the registry of the built-in sources, keyed by their URL name.

    Returns:
        ``{"servicenow": ..., "oceane": ..., "canonical": ...}``.
    """
    # Imported here: the source modules import the helpers above from this package.
    from vigie_ingest.sources.canonical import CanonicalSource
    from vigie_ingest.sources.oceane import OceaneSource
    from vigie_ingest.sources.servicenow import ServiceNowSource

    sources: tuple[Source, ...] = (ServiceNowSource(), OceaneSource(), CanonicalSource())
    return {source.name: source for source in sources}
