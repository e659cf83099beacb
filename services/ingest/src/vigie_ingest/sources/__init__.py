"""The ticket sources registry and the helpers every source mapper shares."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from vigie_ingest.sources.base import Source

__all__ = ["SOURCES", "default_sources", "parse_local", "payload_digest"]


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
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


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
        ValueError: When ``text`` does not match ``fmt`` or is not a real calendar date.
    """
    return datetime.strptime(text.strip(), fmt).replace(tzinfo=tz, fold=0).astimezone(UTC)


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


SOURCES: dict[str, Source] = default_sources()
"""The built-in sources, keyed by the path segment of their webhook endpoint."""
